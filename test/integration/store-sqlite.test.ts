import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { KEY_A, admission, storeSuite, type StoreHarness } from '../store/store-suite.ts';
import { until } from '../helpers/until.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sfu-sqlite-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

function raw<T>(fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dir, 'records.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

storeSuite('SQLite', (): StoreHarness => ({
  async open(keys) {
    const s = new SqliteStore(join(dir, 'records.db'), new FieldCipher(keys));
    await s.migrate();
    return s;
  },
  async exec(sql) {
    raw((db) => db.exec(sql));
  },
  async dump() {
    return raw((db) => ['sessions', 'consents', 'locations', 'audit', 'revocations', 'incidents', 'incident_events', 'webhook_attempts']
      .map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all())).join('\n'));
  },
}));

/** Another connection holding the write lock (BEGIN IMMEDIATE) until released, as another process would. */
function holdWriteLock(file: string): () => void {
  const db = new DatabaseSync(file);
  db.exec('BEGIN IMMEDIATE');
  return () => { db.exec('ROLLBACK'); db.close(); };
}

const FAST = { callTimeoutMs: 400, sqliteBusyTimeoutMs: 100 };

describe('SQLite store: the file', () => {
  it('is created readable by its owner only, and so are its -wal and -shm files, whatever the umask', async () => {
    const before = process.umask(0o022);
    try {
      const s = new SqliteStore(join(dir, 'records.db'), new FieldCipher([KEY_A]));
      await s.migrate();
      await s.recordAdmission(admission('mode-1'));
      for (const f of ['records.db', 'records.db-wal', 'records.db-shm']) {
        expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
      }
      await s.close();
    } finally {
      process.umask(before);
    }
  });
});

describe('SQLite store: the thread, deadlines and readiness', () => {
  it('a write lock held elsewhere: writes fail STORE_UNAVAILABLE (SQLITE_BUSY) within the busy timeout, reads go on, ping says why; all recover', async () => {
    const file = join(dir, 'records.db');
    const s = new SqliteStore(file, new FieldCipher([KEY_A]), FAST);
    try {
      await s.migrate();
      await s.recordAdmission(admission('before'));
      const release = holdWriteLock(file);
      const t0 = performance.now();
      const err = await s.audit({ room: 'room-1', kind: 'test.event', actor: 'a', detail: {}, at: new Date() }).catch((e: unknown) => e);
      const waited = performance.now() - t0;
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('SQLITE_BUSY') });
      expect(waited).toBeLessThan(FAST.callTimeoutMs);
      // Right after a write waited out the busy timeout, the next ones fail at once instead of queueing.
      const t1 = performance.now();
      await expect(s.recordRefusal({ room: 'room-1', identity: 'x', role: 'student', code: 'STORE_UNAVAILABLE', at: new Date() })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(performance.now() - t1).toBeLessThan(50);
      expect((await s.latestLocation('before'))?.region).toBe('US-CA');
      await expect(s.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('locked') });
      release();
      await until(async () => s.audit({ room: 'room-1', kind: 'test.after', actor: 'a', detail: {}, at: new Date() }).then(() => true, () => false), 'a write after the lock', 3000);
      expect(await s.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await s.close();
    }
  });

  it('a call whose deadline passes while it waits for the thread rejects then and never runs; calls meanwhile fail at once', async () => {
    const file = join(dir, 'records.db');
    // The busy timeout longer than the call deadline: the first write holds the thread up to its deadline.
    const s = new SqliteStore(file, new FieldCipher([KEY_A]), { callTimeoutMs: 400, sqliteBusyTimeoutMs: 5000 });
    try {
      await s.migrate();
      const release = holdWriteLock(file);
      const t0 = performance.now();
      const first = s.audit({ room: 'room-1', kind: 'test.first', actor: 'a', detail: {}, at: new Date() }).catch((e: unknown) => e);
      const queued = s.audit({ room: 'room-1', kind: 'test.queued', actor: 'a', detail: {}, at: new Date() }).catch((e: unknown) => e);
      expect(await queued).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('did not answer within 400 ms') });
      expect(performance.now() - t0).toBeLessThan(600);
      expect(await first).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      // No answer in time: until the store answers again, calls fail at once (one is let through a second).
      const t1 = performance.now();
      await expect(s.auditHead()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('calls fail at once') });
      expect(performance.now() - t1).toBeLessThan(50);
      release();
      await until(async () => s.auditHead().then(() => true, () => false), 'the store answering again', 5000);
      expect((await s.auditTrail()).map((e) => e.kind)).not.toContain('test.queued');
    } finally {
      await s.close();
    }
  });

  it('the event loop runs while the thread waits on a lock', async () => {
    const file = join(dir, 'records.db');
    const s = new SqliteStore(file, new FieldCipher([KEY_A]), { callTimeoutMs: 2000, sqliteBusyTimeoutMs: 1000 });
    try {
      await s.migrate();
      const release = holdWriteLock(file);
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 10);
      const t0 = performance.now();
      await expect(s.audit({ room: 'room-1', kind: 'test.event', actor: 'a', detail: {}, at: new Date() })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const ms = performance.now() - t0;
      clearInterval(timer);
      release();
      // The write waited about a second in the thread; the main thread's 10 ms timer kept firing meanwhile.
      expect(ms).toBeGreaterThan(900);
      expect(ticks).toBeGreaterThan(ms / 10 / 2);
    } finally {
      await s.close();
    }
  });
});
