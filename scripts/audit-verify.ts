/**
 * Verifies the audit trail's hash chain in the configured store and names the first broken entry.
 *   npm run audit:verify            exit 0 when intact, 1 when broken, 2 when the store cannot be read
 */
import { loadConfig } from '../src/config/load.ts';
import { resolveSecrets } from '../src/config/secrets.ts';
import { openStore } from '../src/store/open.ts';

const config = loadConfig();
let store;
try {
  store = await openStore(config.store.url, config.dataDir, resolveSecrets(config).recordKeys);
} catch (err) {
  process.stderr.write(`audit:verify: cannot open the store: ${(err as Error).message}\n`);
  process.exit(2);
}
const result = await store.verifyAudit();
await store.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
if (result.ok) {
  process.stderr.write(`audit chain intact: ${result.entries} entries\n`);
} else {
  process.stderr.write(`audit chain BROKEN at entry ${result.brokenAt}: ${result.reason}\n`);
  process.exit(1);
}
