import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

async function refusal(opts: Parameters<typeof RtcClient.connect>[1]): Promise<{ status: number; code: string }> {
  try {
    const c = await RtcClient.connect(srv.wsUrl, opts);
    c.close();
  } catch (err) {
    const e = err as { status: number; body: { error: { code: string } } };
    return { status: e.status, code: e.body.error.code };
  }
  throw new Error('expected the upgrade to be refused');
}

describe('WebSocket upgrade auth', () => {
  it('accepts a valid token in the query string and in the Authorization header', async () => {
    const a = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-a', 'q1', 'student') });
    const b = await RtcClient.connect(srv.wsUrl, { headers: { authorization: `Bearer ${srv.mint('room-a', 'h1', 'student')}` } });
    expect((await a.request('join', {})).roomId).toBe('room-a');
    expect((await b.request('join', {})).roomId).toBe('room-a');
    a.close(); b.close();
  });

  it('refuses with HTTP 401/403 and a coded reason before any socket exists', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusal({})).toEqual({ status: 401, code: 'TOKEN_MISSING' });
    expect(await refusal({ token: srv.mint('room-a', 'x', 'student'), room: 'room-b' })).toEqual({ status: 403, code: 'WRONG_ROOM' });
    expect(await refusal({ token: jwt.sign({ room: 'room-a', sub: 'x', role: 'student', exp: now - 100 }, TEST_SECRET) }))
      .toEqual({ status: 401, code: 'TOKEN_EXPIRED' });
    expect(await refusal({ token: jwt.sign({ room: 'room-a', sub: 'x', role: 'student', exp: now + 600, nbf: now + 300 }, TEST_SECRET) }))
      .toEqual({ status: 401, code: 'TOKEN_NOT_YET_VALID' });
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ room: 'room-a', sub: 'x', role: 'clinician', exp: now + 600 })).toString('base64url')}.`;
    expect(await refusal({ token: none })).toEqual({ status: 401, code: 'TOKEN_ALGORITHM_NOT_ALLOWED' });
    const good = srv.mint('room-a', 'x', 'student');
    const tampered = good.slice(0, -3) + (good.endsWith('AAA') ? 'BBB' : 'AAA');
    expect(await refusal({ token: tampered })).toEqual({ status: 401, code: 'TOKEN_INVALID' });
    expect(await refusal({ token: jwt.sign({ room: 'room-a', sub: 'x', exp: now + 600 }, TEST_SECRET) }))
      .toEqual({ status: 401, code: 'TOKEN_CLAIMS_INVALID' });
  });

  it('counts refusals by reason in /metrics', async () => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    expect(text).toMatch(/sfu_auth_failures_total\{reason="WRONG_ROOM"\} [1-9]/);
  });

  it('refuses a second connection with the same identity and leaves the first untouched', async () => {
    const first = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-d', 'dup', 'clinician') });
    const joined = await first.request('join', {});
    const second = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-d', 'dup', 'clinician', { jti: 'fresh' }) });
    const res = await second.raw('join', {});
    expect(res.error.code).toBe('DUPLICATE_IDENTITY');
    expect((await second.closeInfo).code).toBe(4409);
    // The first session still works.
    const t = await first.request('createTransport', { direction: 'send' });
    expect(t.transportId).toBeTruthy();
    const wrongResume = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-d', 'dup', 'clinician') });
    expect((await wrongResume.raw('join', { resumeToken: 'not-the-token' })).error.code).toBe('DUPLICATE_IDENTITY');
    expect(joined.resumeToken).toBeTruthy();
    first.close();
  });

  it('keeps a kicked identity out, even with a freshly minted token', async () => {
    const victim = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-k', 'kid', 'student') });
    const other = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-k', 'doc', 'clinician') });
    const v = await victim.request('join', {});
    await other.request('join', {});
    const res = await fetch(`${srv.url}/admin/rooms/room-k/kick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'kid', durationSeconds: 600 }),
    });
    expect(res.status).toBe(200);
    expect((await res.json() as any).kicked).toBe(1);
    expect((await victim.waitFor('kicked')).reason).toBeTruthy();
    expect((await victim.closeInfo).code).toBe(4403);
    expect(await other.waitFor('participantLeft', (d) => d.participantId === v.participantId)).toMatchObject({ reason: 'KICKED' });
    expect(await refusal({ token: srv.mint('room-k', 'kid', 'student', { jti: 'refreshed' }) })).toEqual({ status: 403, code: 'IDENTITY_REVOKED' });
    // The same identity in another room is not affected.
    const elsewhere = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-other', 'kid', 'student') });
    expect((await elsewhere.request('join', {})).roomId).toBe('room-other');
    elsewhere.close(); other.close();
  });

  it('can revoke a single token id', async () => {
    const res = await fetch(`${srv.url}/admin/rooms/room-j/kick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tokenId: 'leaked-1' }),
    });
    expect(res.status).toBe(200);
    expect(await refusal({ token: srv.mint('room-j', 'pat', 'student', { jti: 'leaked-1' }) })).toEqual({ status: 403, code: 'IDENTITY_REVOKED' });
    // Only that token id: the same identity with another token is admitted and joins.
    const ok = await RtcClient.connect(srv.wsUrl, { token: srv.mint('room-j', 'pat', 'student', { jti: 'new-2' }) });
    expect((await ok.request('join', {})).roomId).toBe('room-j');
    ok.close();
  });

  it('refuses the admin API without the admin credential, and with a room token', async () => {
    expect((await fetch(`${srv.url}/admin/rooms`)).status).toBe(401);
    const withRoomToken = await fetch(`${srv.url}/admin/rooms`, { headers: { authorization: `Bearer ${srv.mint('r', 'doc', 'clinician')}` } });
    expect(withRoomToken.status).toBe(401);
    expect((await withRoomToken.json() as any).error.code).toBe('ADMIN_UNAUTHORIZED');
  });
});
