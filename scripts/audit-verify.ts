/**
 * Verifies the audit trail in the configured store: the hash chain, and that it still reaches the
 * signed head checkpoint (entries deleted from its end are reported with the first missing position).
 *   npm run audit:verify                          exit 0 when intact, 1 when broken, 2 when the store cannot be read
 *   npm run audit:verify -- --head <seq>:<hash>   also check that the trail still holds a head exported earlier
 *                                                 (metric, start-up log line, GET /admin/audit/head): this detects
 *                                                 a rollback of the whole data dir or database to an older backup
 * stdout: the verification as one JSON line; stderr: a sentence for people.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.ts';
import { resolveSecrets } from '../src/config/secrets.ts';
import { compareExportedHead } from '../src/store/audit-head.ts';
import { openStore } from '../src/store/open.ts';
import type { AuditVerification } from '../src/store/types.ts';

function fail(code: number, message: string): never {
  process.stderr.write(`audit:verify: ${message}\n`);
  process.exit(code);
}

let exported: { seq: number; hash: string } | undefined;
try {
  const { values } = parseArgs({ options: { head: { type: 'string' } } });
  if (values.head !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(values.head.trim());
    if (!m) fail(2, '--head takes <seq>:<hash>, e.g. --head 1287:9f86d0…(64 hex digits)');
    exported = { seq: Number(m[1]), hash: m[2]! };
  }
} catch (err) {
  fail(2, (err as Error).message);
}

const config = loadConfig();
let store;
try {
  store = await openStore(config.store.url, config.dataDir, resolveSecrets(config).recordKeys);
} catch (err) {
  fail(2, `cannot open the store: ${(err as Error).message}`);
}
let result: AuditVerification;
try {
  result = await store.verifyAudit();
  if (result.ok && exported) {
    const finding = compareExportedHead(await store.auditTrail(), exported);
    if (finding) {
      result = {
        ok: false, entries: result.entries, brokenAt: finding.at, reason: finding.reason, checkpoint: result.checkpoint ?? null,
        ...(finding.firstMissing !== undefined ? { firstMissing: finding.firstMissing } : {}),
      };
    }
  }
} catch (err) {
  fail(2, `cannot read the audit trail: ${(err as Error).message}`);
} finally {
  await store.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
if (result.ok) {
  const cp = result.checkpoint;
  process.stderr.write(`audit chain intact: ${result.entries} entries, reaching the signed head checkpoint ${cp ? `(entry ${cp.seq}, ${cp.hash})` : '(none yet: empty trail)'}`
    + `${exported ? `; holds the exported head (entry ${exported.seq})` : ''}\n`);
} else {
  process.stderr.write(`audit chain BROKEN at entry ${result.brokenAt}: ${result.reason}\n`);
  if (result.firstMissing !== undefined) process.stderr.write(`first missing entry: ${result.firstMissing}\n`);
  process.exit(1);
}
