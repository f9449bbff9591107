import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * Two nodes sharing one store (the same SQLite file here; PostgreSQL in a fleet): a kick made
 * through node A's admin API removes the participant from node B and keeps them out of B.
 */
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  a = await startServer({ store: { revocationSyncSeconds: 0.2 } });
  b = await startServer({ dataDir: a.dataDir, store: { revocationSyncSeconds: 0.2 } });
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('revocations across nodes sharing a store', () => {
  it('a kick on node A removes the participant from node B and refuses them there', async () => {
    const victim = await RtcClient.connect(b.wsUrl, { token: b.mint('room-x', 'kid', 'student') });
    await victim.request('join', {});
    const kickedAt = performance.now();
    const res = await fetch(`${a.url}/admin/rooms/room-x/kick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'kid', durationSeconds: 600, reason: 'test: kicked elsewhere' }),
    });
    expect(res.status).toBe(200);
    expect((await res.json() as { kicked: number }).kicked).toBe(0); // not on node A
    expect((await victim.waitFor('kicked')).reason).toBe('test: kicked elsewhere');
    expect((await victim.closeInfo).code).toBe(4403);
    console.log(`[revocation-sync] kick on A to removal on B: ${Math.round(performance.now() - kickedAt)} ms (sync every 200 ms)`);

    const again = await RtcClient.connect(b.wsUrl, { token: b.mint('room-x', 'kid', 'student', { jti: 'fresh' }) }).then(
      (c) => { c.close(); return { status: 101, code: 'accepted' }; },
      (err: { status: number; body: { error: { code: string } } }) => ({ status: err.status, code: err.body.error.code }),
    );
    expect(again).toEqual({ status: 403, code: 'IDENTITY_REVOKED' });
    const audit = await (await fetch(`${b.url}/admin/rooms/room-x/audit`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as { entries: { kind: string; actor: string }[] };
    expect(audit.entries.filter((e) => e.kind === 'participant.kicked').map((e) => e.actor)).toEqual(['revocation-sync']);
  });
});
