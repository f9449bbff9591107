import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

const TURN = { urls: ['turns:turn.example.org:443?transport=tcp', 'turn:turn.example.org:3478?transport=udp'], secret: 'turn-secret-0123456789abcdef0123456789abcdef', ttlSeconds: 600 };
const STUN = { urls: 'stun:stun.example.org:3478' };

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ media: { iceServers: [STUN], turn: TURN } }); });
afterAll(async () => { await srv.close(); });

/** What coturn checks (use-auth-secret): the expiry in the username, and the HMAC of the whole username. */
function checkTurnEntry(entry: { urls: string[]; username: string; credential: string }, participantId: string, before: number, after: number): number {
  expect(entry.urls).toEqual(TURN.urls);
  const [expiry, subject, ...rest] = entry.username.split(':');
  expect(rest).toEqual([]);
  expect(subject).toBe(participantId);
  const expiresAt = Number(expiry);
  expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) + TURN.ttlSeconds);
  expect(expiresAt).toBeLessThanOrEqual(Math.floor(after / 1000) + TURN.ttlSeconds);
  expect(entry.credential).toBe(createHmac('sha1', TURN.secret).update(entry.username).digest('base64'));
  return expiresAt;
}

describe('media.turn: short-lived TURN credentials in join and restartIce', () => {
  it('join: the static servers, then TURN with a credential minted for the participant (its id, not its identity)', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('turn-1', 'student-4821', 'student') });
    const before = Date.now();
    const info = await c.request('join', {});
    const after = Date.now();
    expect(info.iceServers).toHaveLength(2);
    expect(info.iceServers[0]).toEqual(STUN);
    checkTurnEntry(info.iceServers[1], info.participantId, before, after);
    expect(JSON.stringify(info.iceServers)).not.toContain('student-4821');
    expect(JSON.stringify(info)).not.toContain(TURN.secret);

    // restartIce: ICE parameters and the iceServers again, with a credential minted now.
    const send = await c.request('createTransport', { direction: 'send' });
    const before2 = Date.now();
    const ice = await c.request('restartIce', { transportId: send.transportId });
    const after2 = Date.now();
    expect(ice.iceParameters.usernameFragment).toBeTruthy();
    expect(ice.iceServers[0]).toEqual(STUN);
    checkTurnEntry(ice.iceServers[1], info.participantId, before2, after2);
    c.close();
  });

  it('/readyz and /healthz never show the secret', async () => {
    for (const path of ['/readyz', '/healthz']) {
      const body = await (await fetch(`${srv.url}${path}`)).text();
      expect(body, path).not.toContain(TURN.secret);
    }
  });
});
