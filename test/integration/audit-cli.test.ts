import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { openStore } from '../../src/store/open.ts';
import { admission } from '../store/store-suite.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function newDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sfu-audit-cli-'));
  dirs.push(d);
  return d;
}

function verifyCli(dataDir: string, args: string[] = []) {
  return spawnSync(process.execPath, ['scripts/audit-verify.ts', ...args], {
    cwd: join(import.meta.dirname, '../..'), env: { ...process.env, SFU_DATA_DIR: dataDir }, encoding: 'utf8',
  });
}

/** Writes admissions (3 audit entries each) through the real store on the data dir's SQLite file and generated key. */
async function admit(dataDir: string, ...ids: string[]): Promise<void> {
  const config = loadConfig({ env: { SFU_DATA_DIR: dataDir } });
  const store = await openStore('', dataDir, resolveSecrets(config).recordKeys);
  for (const id of ids) await store.recordAdmission(admission(id));
  await store.close();
}

/** Raw SQL on the records file from outside the service (node:sqlite, as another process would). */
function tamper(dataDir: string, sql: string): void {
  const db = new DatabaseSync(join(dataDir, 'records.db'));
  db.exec(sql);
  db.close();
}

describe('npm run audit:verify', () => {
  it('reports an intact chain, then names the first entry modified in the database file', async () => {
    const dataDir = newDataDir();
    await admit(dataDir, 'a1', 'a2');
    expect(readFileSync(join(dataDir, 'records-key'), 'utf8').length).toBeGreaterThan(40);

    const ok = verifyCli(dataDir);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, entries: 6, checkpoint: { seq: 6, keyId: 'local' } });
    expect(ok.stderr).toContain('reaching the signed head checkpoint (entry 6,');

    tamper(dataDir, "UPDATE audit SET detail = '{}' WHERE seq = 5");
    const broken = verifyCli(dataDir);
    expect(broken.status).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, brokenAt: 5 });
    expect(broken.stderr).toContain('BROKEN at entry 5');
  });

  it('names the first missing position when the newest entry, then the 3 newest, are deleted from the file', async () => {
    const dataDir = newDataDir();
    await admit(dataDir, 'b1', 'b2');
    expect(verifyCli(dataDir).status).toBe(0);

    tamper(dataDir, 'DELETE FROM audit WHERE seq = 6');
    const one = verifyCli(dataDir);
    expect(one.status).toBe(1);
    expect(JSON.parse(one.stdout)).toMatchObject({ ok: false, entries: 5, brokenAt: 6, firstMissing: 6, checkpoint: { seq: 6 } });
    expect(one.stderr).toContain('BROKEN at entry 6: entry 6 is missing');
    expect(one.stderr).toContain('first missing entry: 6');

    tamper(dataDir, 'DELETE FROM audit WHERE seq > 3');
    const three = verifyCli(dataDir);
    expect(three.status).toBe(1);
    expect(JSON.parse(three.stdout)).toMatchObject({ ok: false, entries: 3, brokenAt: 4, firstMissing: 4 });
    expect(three.stderr).toContain('BROKEN at entry 4: entries 4 to 6 are missing');
    expect(three.stderr).toContain('first missing entry: 4');
  });

  it('a rollback of the whole data dir passes on its own, and is caught with --head (the exported head)', async () => {
    const dataDir = newDataDir();
    await admit(dataDir, 'c1');
    const backup = newDataDir();
    cpSync(dataDir, backup, { recursive: true });
    await admit(dataDir, 'c2');
    const head = JSON.parse(verifyCli(dataDir).stdout).checkpoint as { seq: number; hash: string };
    expect(head.seq).toBe(6);
    expect(verifyCli(dataDir, ['--head', `${head.seq}:${head.hash}`]).status).toBe(0);

    rmSync(dataDir, { recursive: true, force: true });
    cpSync(backup, dataDir, { recursive: true });
    expect(verifyCli(dataDir).status).toBe(0); // entries and checkpoint rolled back together: consistent
    const rolledBack = verifyCli(dataDir, ['--head', `${head.seq}:${head.hash}`]);
    expect(rolledBack.status).toBe(1);
    expect(JSON.parse(rolledBack.stdout)).toMatchObject({ ok: false, brokenAt: 4, firstMissing: 4 });
    expect(rolledBack.stderr).toContain('exported head names entry 6');

    expect(verifyCli(dataDir, ['--head', 'nonsense']).status).toBe(2);
  });

  it('never creates a store or a key: pointed at the wrong data dir it fails with exit 2, not an empty trail reported intact', async () => {
    const wrong = join(newDataDir(), 'not-the-servers');
    const noKey = verifyCli(wrong);
    expect(noKey.status).toBe(2);
    expect(noKey.stdout).toBe('');
    expect(noKey.stderr).toContain('RECORDS_KEY_NOT_FOUND');
    expect(() => readdirSync(wrong)).toThrow(/ENOENT/);
    // The key is there (copied), the store is not: still nothing created.
    const real = newDataDir();
    await admit(real, 'd1');
    mkdirSync(wrong);
    cpSync(join(real, 'records-key'), join(wrong, 'records-key'));
    const noStore = verifyCli(wrong);
    expect(noStore.status).toBe(2);
    expect(noStore.stderr).toContain(`no store at ${join(wrong, 'records.db')}`);
    expect(readdirSync(wrong)).toEqual(['records-key']);
    // An invalid configuration is the operator's to fix: 78, as npm start, not 1 (which means a broken trail).
    const bad = spawnSync(process.execPath, ['scripts/audit-verify.ts'], {
      cwd: join(import.meta.dirname, '../..'), env: { ...process.env, SFU_DATA_DIR: real, SFU_LOG_LEVEL: 'loud' }, encoding: 'utf8',
    });
    expect(bad.status).toBe(78);
    expect(bad.stderr).toContain('log.level (SFU_LOG_LEVEL)');
    expect(verifyCli(real).status).toBe(0);
  });
});
