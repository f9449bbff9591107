import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { openStore } from '../../src/store/open.ts';
import { admission } from '../store/store-suite.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'sfu-audit-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function verifyCli() {
  return spawnSync(process.execPath, ['scripts/audit-verify.ts'], {
    cwd: join(import.meta.dirname, '../..'), env: { ...process.env, SFU_DATA_DIR: dataDir }, encoding: 'utf8',
  });
}

describe('npm run audit:verify', () => {
  it('reports an intact chain, then names the first entry modified in the database file', async () => {
    const config = loadConfig({ env: { SFU_DATA_DIR: dataDir } });
    const store = await openStore('', dataDir, resolveSecrets(config).recordKeys);
    await store.recordAdmission(admission('a1'));
    await store.recordAdmission(admission('a2'));
    await store.close();
    expect(readFileSync(join(dataDir, 'records-key'), 'utf8').length).toBeGreaterThan(40);

    const ok = verifyCli();
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ ok: true, entries: 6 });

    const db = new DatabaseSync(join(dataDir, 'records.db'));
    db.prepare("UPDATE audit SET detail = '{}' WHERE seq = 5").run();
    db.close();
    const broken = verifyCli();
    expect(broken.status).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, brokenAt: 5 });
    expect(broken.stderr).toContain('BROKEN at entry 5');
  });
});
