import { PassThrough } from 'node:stream';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_ADMIN_TOKEN, TEST_SECRET, type TestServer } from '../helpers/server.ts';

/** POST /api/link-check (docs/protocol.md, "Checking a link"): the page's check of its link before any form. */
let srv: TestServer;
const logLines: string[] = [];
beforeAll(async () => {
  const logs = new PassThrough();
  logs.on('data', (chunk: Buffer) => logLines.push(chunk.toString()));
  srv = await startServer({
    consent: { policyVersions: ['2027-01', '2026-09'], guardianRequiredFor: ['student'], selfConsentRooms: ['adults-room'] },
    location: { emergencyContactRequiredFor: ['student'] },
    // A burst large enough for the other tests; the rate-limit test spends it.
    http: { linkCheckRateLimit: { requestsPerSecond: 0.01, burst: 30 } },
  }, logs);
});
afterAll(async () => { await srv.close(); });

async function check(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${srv.url}/api/link-check`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}
const codeOf = (r: { json: Record<string, unknown> }) => (r.json.error as { code: string } | undefined)?.code;

describe('POST /api/link-check', () => {
  it('answers a valid student token with its role, room, expiry, the current policy and what the student must give', async () => {
    const token = srv.mint('room-a', 'student-1', 'student', { ttlSeconds: 600 });
    const r = await check({ token });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      kind: 'room', role: 'student', room: 'room-a',
      consent: { policyVersion: '2027-01', policyVersions: ['2027-01', '2026-09'] },
      requires: { location: true, emergencyContact: true, guardianConsent: true },
      permissions: { publish: ['mic', 'camera', 'screen'], subscribe: true },
    });
    const exp = Date.parse(r.json.expiresAt as string);
    expect(exp).toBeGreaterThan(Date.now() + 590_000);
    expect(exp).toBeLessThan(Date.now() + 610_000);
    // The same rules as join: a clinician gives neither a guardian's consent nor an emergency contact,
    // a student in a self-consent room no guardian's consent; the token in the Authorization header works too.
    const clinician = await check({}, { authorization: `Bearer ${srv.mint('room-a', 'c-1', 'clinician')}` });
    expect(clinician.json).toMatchObject({ role: 'clinician', requires: { location: true, emergencyContact: false, guardianConsent: false } });
    const adult = await check({ token: srv.mint('adults-room', 's-2', 'student') });
    expect(adult.json).toMatchObject({ requires: { emergencyContact: true, guardianConsent: false } });
    // Nobody was admitted, nothing recorded.
    expect(srv.handle.rooms.rooms).toHaveLength(0);
    expect(await srv.handle.store.participants('room-a')).toEqual([]);
  });

  it('answers an expired, a badly signed, a malformed, a missing and a wrong-room token with the codes join gives', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await check({ token: jwt.sign({ room: 'room-a', sub: 'x', role: 'student', exp: now - 60 }, TEST_SECRET) });
    expect([expired.status, codeOf(expired)]).toEqual([401, 'TOKEN_EXPIRED']);
    const forged = await check({ token: jwt.sign({ room: 'room-a', sub: 'x', role: 'student', exp: now + 600 }, 'another-secret-0123456789abcdef0123456789') });
    expect([forged.status, codeOf(forged)]).toEqual([401, 'TOKEN_INVALID']);
    const junk = await check({ token: 'not-a-token' });
    expect([junk.status, codeOf(junk)]).toEqual([401, 'TOKEN_INVALID']);
    const none = await check({});
    expect([none.status, codeOf(none)]).toEqual([401, 'TOKEN_MISSING']);
    const wrongRoom = await check({ token: srv.mint('room-a', 'x', 'student'), room: 'room-b' });
    expect([wrongRoom.status, codeOf(wrongRoom)]).toEqual([403, 'WRONG_ROOM']);
  });

  it('answers a revoked identity IDENTITY_REVOKED, as the /rtc upgrade does', async () => {
    const token = srv.mint('room-r', 'student-r', 'student');
    expect((await check({ token })).status).toBe(200);
    const kick = await fetch(`${srv.url}/admin/rooms/room-r/kick`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'student-r', durationSeconds: 600 }),
    });
    expect(kick.status).toBeLessThan(300);
    const r = await check({ token });
    expect([r.status, codeOf(r)]).toEqual([403, 'IDENTITY_REVOKED']);
  });

  it('answers a desk token as a desk link (the participant page sends it to the desk page)', async () => {
    const r = await check({ token: mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] }) });
    expect(r.json).toMatchObject({ kind: 'desk', role: 'desk' });
  });

  it('never logs the token', () => {
    const all = logLines.join('');
    expect(all).toContain('/api/link-check');
    expect(all).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);
  });

  it('limits checks per client address: RATE_LIMITED (429) once the burst is spent', async () => {
    const token = srv.mint('room-a', 'student-1', 'student');
    const statuses: number[] = [];
    let limited: { status: number; json: Record<string, unknown> } | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const r = await check({ token });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(limited && codeOf(limited)).toBe('RATE_LIMITED');
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_link_checks_total\{result="RATE_LIMITED"\} [1-9]/);
    expect(metrics).toMatch(/sfu_link_checks_total\{result="TOKEN_EXPIRED"\} 1/);
  });
});
