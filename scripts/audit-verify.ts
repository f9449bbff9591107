/**
 * Verifies the audit trail in the configured store: the hash chain, and that it still reaches the
 * signed head checkpoint (entries deleted from its end are reported with the first missing position).
 *   npm run audit:verify                          exit 0 when intact, 1 when broken, 2 when the store or its key cannot be
 *                                                 read (a missing store or key is never created), 78 an invalid configuration
 *   npm run audit:verify -- --head <seq>:<hash>   also check that the trail still holds a head exported earlier
 *                                                 (metric, start-up log line, GET /admin/audit/head): this detects
 *                                                 a rollback of the whole data dir or database to an older backup
 * stdout: the verification as one JSON line; stderr: a sentence for people.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { existingRecordKeys } from '../src/config/secrets.ts';
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

// A verifier reads: it never generates a key nor creates a store. Pointed at the wrong data dir, it
// must fail (exit 2), not report an empty new trail as intact.
let config;
let keys;
try {
  config = loadConfig();
  keys = existingRecordKeys(config);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  fail(err.code === 'RECORDS_KEY_NOT_FOUND' ? 2 : 78, err.message);
}
const sqliteFile = config.store.url === '' ? resolve(config.dataDir, 'records.db')
  : config.store.url.startsWith('sqlite:') ? resolve(config.store.url.slice('sqlite:'.length)) : undefined;
if (sqliteFile && !existsSync(sqliteFile)) {
  fail(2, `no store at ${sqliteFile}: run this with the same SFU_DATA_DIR / SFU_CONFIG / SFU_STORE_URL as the server; nothing was created`);
}
let store;
try {
  store = await openStore(config.store.url, config.dataDir, keys);
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
