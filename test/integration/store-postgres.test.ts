import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { KEY_A, admission, storeSuite, type StoreHarness } from '../store/store-suite.ts';

// Started once for the file, at collection time, so that a machine without PostgreSQL shows the
// suite as skipped (with the helper's loud warning) rather than as passed or failed.
const server: TestPostgres | undefined = await startPostgres();
afterAll(() => server?.stop());

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: server!.url });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

describe.skipIf(!server)('PostgreSQL store (real server on 127.0.0.1)', () => {
  // Every test starts from an empty database, as the SQLite suite's new temp dir per test.
  beforeEach(async () => { await sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public;'); });

  storeSuite('PostgreSQL', (): StoreHarness => ({
    async open(keys) {
      const s = PostgresStore.connect(server!.url, new FieldCipher(keys));
      await s.migrate();
      return s;
    },
    async exec(text) { await sql(text); },
    async dump() {
      const parts: string[] = [];
      for (const t of ['sessions', 'consents', 'locations', 'audit', 'revocations', 'incidents', 'incident_events', 'webhook_attempts']) parts.push(JSON.stringify((await sql(`SELECT * FROM ${t}`)).rows));
      return parts.join('\n');
    },
  }));

  it('listens on 127.0.0.1 only', async () => {
    expect((await sql('SHOW listen_addresses')).rows).toEqual([{ listen_addresses: '127.0.0.1' }]);
    expect((await sql('SHOW fsync')).rows).toEqual([{ fsync: 'on' }]);
  });

  it('serves a node whose store.url is PostgreSQL: join records land there', async () => {
    const srv = await startServer({ store: { url: server!.url } });
    try {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('pg-room', 'kid', 'student') });
      const joined = await c.request('join', {});
      c.close();
      const rows = (await sql('SELECT identity, role FROM sessions WHERE session_id = $1', [joined.participantId])).rows;
      expect(rows).toEqual([{ identity: 'kid', role: 'student' }]);
      expect(await (await fetch(`${srv.url}/readyz`)).json()).toMatchObject({ checks: { store: true } });
    } finally {
      await srv.close();
    }
  });

  it('two nodes migrating and appending at once build one unforked chain', async () => {
    const a = PostgresStore.connect(server!.url, new FieldCipher([KEY_A]));
    const b = PostgresStore.connect(server!.url, new FieldCipher([KEY_A]));
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).audit({ room: 'r', kind: 'test.event', actor: `n${i}`, detail: { i }, at: new Date() })));
      expect(await a.verifyAudit()).toMatchObject({ ok: true, entries: 20, checkpoint: { seq: 20 } });
      const trail = await b.auditTrail();
      expect(trail.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(new Set(trail.map((e) => e.actor)).size).toBe(20); // none lost, none doubled
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a hung server (SIGSTOP): calls and the write probe fail STORE_UNAVAILABLE within the deadline, then fail at once; all recover after SIGCONT', async () => {
    const s = PostgresStore.connect(server!.url, new FieldCipher([KEY_A]), { callTimeoutMs: 500 });
    try {
      await s.migrate();
      await s.recordAdmission(admission('pg-hung-1'));
      const resume = server!.hang();
      try {
        const t0 = performance.now();
        const err = await s.recordAdmission(admission('pg-hung-2')).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(performance.now() - t0).toBeLessThan(700);
        const t1 = performance.now();
        await expect(s.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        await expect(s.incidents.get('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(performance.now() - t1).toBeLessThan(700);
      } finally {
        resume();
      }
      await until(async () => s.recordAdmission(admission(`pg-hung-after-${Date.now()}`)).then(() => true, () => false), 'a write after SIGCONT', 10_000);
      await until(async () => s.ping().catch(() => false), 'the write probe after SIGCONT', 5000);
      // The write that timed out never reached COMMIT: it is not there.
      expect((await sql('SELECT count(*)::int AS n FROM sessions WHERE session_id = $1', ['pg-hung-2'])).rows[0].n).toBe(0);
      expect(await s.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await s.close();
    }
  });

  it('a stopped server (pg_ctl stop): calls fail at once with the reason; they work again once it is started', async () => {
    const s = PostgresStore.connect(server!.url, new FieldCipher([KEY_A]), { callTimeoutMs: 500 });
    try {
      await s.migrate();
      server!.shutdown();
      try {
        const t0 = performance.now();
        await expect(s.audit({ room: 'r', kind: 'test.event', actor: 'a', detail: {}, at: new Date() })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        await expect(s.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('PostgreSQL') });
        expect(performance.now() - t0).toBeLessThan(1000);
      } finally {
        server!.start();
      }
      await until(async () => s.audit({ room: 'r', kind: 'test.after', actor: 'a', detail: {}, at: new Date() }).then(() => true, () => false), 'a write after the start', 10_000);
      expect(await s.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await s.close();
    }
  });

  it('hashes and the signed checkpoint are portable: a PostgreSQL audit trail verifies in a SQLite store', async () => {
    const p = PostgresStore.connect(server!.url, new FieldCipher([KEY_A]));
    const dir = mkdtempSync(join(tmpdir(), 'sfu-pg-port-'));
    try {
      await p.migrate();
      await p.recordAdmission(admission('port-1', { identity: 'ünïcode 名前' }));
      await p.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: { nested: { a: [1, 'two'] }, quote: 'it\'s "x"' }, at: new Date() });
      const trail = await p.auditTrail();
      const head = await p.auditHead();
      expect(head).toMatchObject({ ok: true, checkpoint: { seq: 4, hash: trail[3]!.hash } });
      const file = join(dir, 'records.db');
      const s = new SqliteStore(file, new FieldCipher([KEY_A]));
      await s.migrate();
      await s.close();
      const db = new DatabaseSync(file);
      const ins = db.prepare('INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const e of trail) ins.run(e.seq, e.at, e.room, e.kind, e.actor, e.detail, e.prevHash, e.hash);
      const cp = head.checkpoint!;
      db.prepare('INSERT INTO audit_head (id, seq, hash, at, key_id, mac) VALUES (1, ?, ?, ?, ?, ?)').run(cp.seq, cp.hash, cp.at, cp.keyId, cp.mac);
      db.close();
      const again = new SqliteStore(file, new FieldCipher([KEY_A]));
      try {
        expect(await again.verifyAudit()).toEqual({ ok: true, entries: 4, checkpoint: head.checkpoint });
        expect(await again.auditTrail()).toEqual(trail);
      } finally {
        await again.close();
      }
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
