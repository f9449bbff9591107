/**
 * The browser client's /safety channel (src/client/safety-channel.ts, run here in Node against a
 * real server) when the server closes its socket: one identity past
 * safety.socket.maxSocketsPerIdentity closes its oldest socket, and socket.io does not reconnect by
 * itself after a close by the server. The page must not sit with a dead panic channel: it connects
 * again (and its new socket closes the oldest other one); a revoked identity is refused at that
 * handshake and the channel says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetyChannel, type ChannelState } from '../../src/client/safety-channel.ts';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
const closers: (() => void)[] = [];
beforeAll(async () => { srv = await startServer({ safety: { socket: { maxSocketsPerIdentity: 2 } } }); });
afterAll(async () => {
  for (const c of closers) c();
  await srv?.close();
});

function track(channel: SafetyChannel): ChannelState[] {
  const states: ChannelState[] = [];
  channel.events.on('state', (s) => states.push(s));
  closers.push(() => channel.close());
  return states;
}

describe('the browser client\'s /safety channel, closed by the server', () => {
  it('the oldest of too many sockets: it connects again, its new socket closes the oldest other one, and a raise goes through', async () => {
    const room = 'close-many';
    const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
    closers.push(() => kid.close());
    await kid.request('join', {});
    const token = srv.mint(room, 'kid', 'student');
    const channel = new SafetyChannel({ token, origin: srv.url });
    const states = track(channel);
    await until(() => channel.state === 'connected', 'the channel to connect');

    // Two more sockets of the same identity (another tab, a leaked link): the channel's is the oldest.
    const others: SafetyClient[] = [];
    for (let i = 0; i < 2; i++) {
      const other = await safetyClient(srv.url, token, 'websocket');
      others.push(other);
      closers.push(() => other.close());
    }
    await until(() => states.includes('reconnecting'), 'the server to close the channel\'s socket');
    const closedAt = performance.now();
    await until(() => channel.state === 'connected', 'the channel to connect again', 8000);
    const back = performance.now() - closedAt;
    console.info(JSON.stringify({ measure: 'safety-channel-back-after-close-ms', value: Math.round(back) }));
    // Its new socket was one too many: the oldest other socket was closed, with the code.
    expect((await others[0]!.waitFor('panic:closed')).code).toBe('TOO_MANY_CONNECTIONS');

    const res = await channel.request('panic:raise', { kind: 'safety', silent: true, clientIncidentId: 'close-many-1' });
    expect(res.incidentId).toEqual(expect.any(String));
  });

  it('a revoked identity: the server closes the socket, the handshake of the next attempt refuses it, and the channel says IDENTITY_REVOKED', async () => {
    const room = 'close-revoked';
    const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid2', 'student') });
    closers.push(() => kid.close());
    await kid.request('join', {});
    const channel = new SafetyChannel({ token: srv.mint(room, 'kid2', 'student'), origin: srv.url });
    const states = track(channel);
    await until(() => channel.state === 'connected', 'the channel to connect');

    const kicked = await fetch(`${srv.url}/admin/rooms/${room}/kick`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'kid2', durationSeconds: 600 }),
    });
    expect(kicked.status).toBe(200);
    await until(() => channel.state === 'error:IDENTITY_REVOKED', 'the channel to report the revocation', 8000);
    expect(states).toContain('reconnecting');
  });
});
