import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/** The admin API as docs/operations.md ("Admin API") documents it, probed as an operator's script would. */
let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

const json = { 'content-type': 'application/json' };
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
async function call(method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(`${srv.url}${path}`, {
    method, headers: { ...admin, ...(opts.body !== undefined ? json : {}), ...opts.headers },
    ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
  });
  // Every answer (identities; records: personal data) is kept out of caches, refusals included.
  expect(res.headers.get('cache-control'), `${method} ${path.slice(0, 80)}`).toBe('no-store');
  return { status: res.status, body: await res.json() as any };
}

describe('admin API', () => {
  it('takes the bearer credential with any case of the scheme, and nothing else', async () => {
    expect((await call('GET', '/admin/rooms', { headers: { authorization: `bearer ${TEST_ADMIN_TOKEN}` } })).status).toBe(200);
    expect((await call('GET', '/admin/rooms', { headers: { authorization: `BEARER  ${TEST_ADMIN_TOKEN}` } })).status).toBe(200);
    for (const authorization of ['', 'Bearer', `Basic ${TEST_ADMIN_TOKEN}`, `Bearer ${TEST_ADMIN_TOKEN}x`, `Bearer ${srv.mint('r', 'i', 'clinician')}`]) {
      const r = await call('GET', '/admin/rooms', { headers: { authorization } });
      expect(r.status, authorization).toBe(401);
      expect(r.body.error.code).toBe('ADMIN_UNAUTHORIZED');
    }
  });

  it('refuses a kick body that is not exactly as documented (400 INVALID_REQUEST), and revokes nothing for it', async () => {
    const bad: [unknown, RegExp][] = [
      [{ identity: 'kid', durationSeconds: '60' }, /body\.durationSeconds: Expected integer/],
      [{ identity: 'kid', durationSeconds: true }, /body\.durationSeconds: Expected integer/],
      [{ identity: 123 }, /body\.identity: Expected string/],
      [{ identity: 'kid', duration: 600 }, /body\.duration: Unexpected property/],
      [{ identity: 'kid', durationSeconds: 366 * 24 * 3600 + 1 }, /body\.durationSeconds/],
      [{ identity: 'kid', reason: 'line\nbreak' }, /body\.reason/],
      [{}, /identity or tokenId is required/],
      ['{not json', /JSON/],
    ];
    for (const [body, message] of bad) {
      const r = await call('POST', '/admin/rooms/strict/kick', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('INVALID_REQUEST');
      expect(r.body.error.message).toMatch(message);
    }
    expect((await call('GET', '/admin/rooms/strict/revocations')).body.revocations).toEqual([]);
    const ok = await call('POST', '/admin/rooms/strict/kick', { body: { identity: 'kid', durationSeconds: 60, reason: 'done' } });
    expect(ok.status).toBe(200);
    expect(ok.body.kicked).toBe(0);
  });

  it('serves room ids up to 128 characters, the longest a token may name, and refuses longer ones with a coded 400', async () => {
    const room = `r${'x'.repeat(127)}`;
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'clin', 'clinician') });
    await c.request('join', {});
    const participants = await call('GET', `/admin/rooms/${room}/participants`);
    expect(participants.status).toBe(200);
    expect(participants.body.participants).toEqual([expect.objectContaining({ identity: 'clin', role: 'clinician' })]);
    expect((await call('GET', `/admin/rooms/${room}/records`)).body.participants).toHaveLength(1);
    expect((await call('POST', `/admin/rooms/${room}/kick`, { body: { identity: 'clin', durationSeconds: 0 } })).body.kicked).toBe(1);
    c.close();
    for (const long of [`${room}y`, 'z'.repeat(5000)]) {
      const r = await call('GET', `/admin/rooms/${long}/participants`);
      expect(r.status, `${long.length} characters`).toBe(400);
      expect(r.body.error.code).toBe('INVALID_REQUEST');
      expect(JSON.stringify(r.body)).not.toContain(long);
    }
  });

  it('answers unknown rooms 404 NOT_FOUND where the docs say so, and the store-backed lists empty', async () => {
    for (const [method, path] of [['GET', '/admin/rooms/none/participants'], ['DELETE', '/admin/rooms/none']]) {
      const r = await call(method!, path!);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    expect((await call('GET', '/admin/rooms/none/records')).body).toEqual({ room: 'none', participants: [] });
    expect((await call('GET', '/admin/rooms/none/audit')).body).toEqual({ room: 'none', entries: [] });
    expect((await call('GET', '/admin/rooms/none/revocations')).body).toEqual({ revocations: [] });
  });
});
