import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { KEY_A, storeSuite, type StoreHarness } from '../store/store-suite.ts';

const server: TestPostgres | undefined = await startPostgres();
afterAll(() => server?.stop());

async function sql(text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: server!.url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

describe.skipIf(!server)('PostgreSQL store (real server on 127.0.0.1)', () => {
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
      for (const t of ['sessions', 'consents', 'locations', 'audit', 'revocations', 'incidents']) parts.push(JSON.stringify((await sql(`SELECT * FROM ${t}`)).rows));
      return parts.join('\n');
    },
  }));

  it('serves a node whose store.url is PostgreSQL: join records land there', async () => {
    const srv = await startServer({ store: { url: server!.url } });
    try {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('pg-room', 'kid', 'student') });
      const joined = await c.request('join', {});
      c.close();
      const rows = (await sql(`SELECT identity, role FROM sessions WHERE session_id = '${joined.participantId}'`)).rows;
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
      expect(await a.verifyAudit()).toEqual({ ok: true, entries: 20 });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
