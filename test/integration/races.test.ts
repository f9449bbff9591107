import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION, opusParameters } from '../helpers/ws-client.ts';
import { sendInOneWrite } from '../helpers/one-write.ts';
import { until } from '../helpers/until.ts';

// Each race is provoked by sending the messages in ONE TCP write (or destroying the socket right
// after the write) and asserts the exact documented end state.

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ signalling: { reconnectGraceSeconds: 0.2 } }); });
afterAll(async () => { await srv.close(); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const getJson = async (path: string): Promise<any> => (await fetch(`${srv.url}${path}`, { headers: admin })).json();

async function joined(room: string, identity: string, role: 'clinician' | 'student' = 'student') {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  const info = await c.request('join', {});
  return { c, info };
}

/** Writes `requests` (given ids b0, b1, ...) in one write and resolves with their responses in id order. */
async function burst(c: RtcClient, requests: { method: string; data?: unknown }[]): Promise<any[]> {
  const msgs = requests.map((r, i) => ({ id: `b${i}`, method: r.method, data: r.data ?? {} }));
  const start = c.orphanReplies.length;
  sendInOneWrite(c.ws, msgs);
  await until(() => c.orphanReplies.length - start >= msgs.length, 'every response of the burst');
  const replies = c.orphanReplies.slice(start);
  return msgs.map((m) => replies.find((r) => r.id === m.id));
}

function participantOf(room: string, identity: string) {
  const p = srv.handle.rooms.get(room)?.byIdentity(identity);
  if (!p) throw new Error(`${identity} is not in ${room}`);
  return p;
}

describe('requests that overlap (sent in one write)', () => {
  it('responses come in request order, one request at a time', async () => {
    const { c } = await joined('order', 'kid');
    const replies = await burst(c, Array.from({ length: 10 }, () => ({ method: 'createTransport', data: { direction: 'send' } })));
    const ids = c.orphanReplies.filter((r) => typeof r.id === 'string').map((r) => r.id);
    expect(ids).toEqual(replies.map((r) => r.id));
    c.close();
  });

  it('20 createTransport {send} in one write give exactly one send transport', async () => {
    const { c } = await joined('limits-t', 'kid');
    const replies = await burst(c, Array.from({ length: 20 }, () => ({ method: 'createTransport', data: { direction: 'send' } })));
    expect(replies.filter((r) => r.ok)).toHaveLength(1);
    expect(replies.filter((r) => !r.ok).map((r) => r.error.code)).toEqual(Array(19).fill('TRANSPORT_LIMIT'));
    expect(participantOf('limits-t', 'kid').transports.size).toBe(1);
    c.close();
  });

  it('10 produce {mic} in one write give exactly one mic producer', async () => {
    const { c } = await joined('limits-p', 'kid');
    const { transportId } = await c.request('createTransport', { direction: 'send' });
    const replies = await burst(c, Array.from({ length: 10 }, (_, i) => ({
      method: 'produce', data: { transportId, kind: 'audio', source: 'mic', rtpParameters: opusParameters(1000 + i) },
    })));
    expect(replies.filter((r) => r.ok)).toHaveLength(1);
    expect(replies.filter((r) => !r.ok).map((r) => r.error.code)).toEqual(Array(9).fill('PRODUCER_LIMIT'));
    expect(participantOf('limits-p', 'kid').producers.size).toBe(1);
    c.close();
  });

  it('three sockets with one token joining a room that is not open yet: exactly one is admitted', async () => {
    const token = srv.mint('dup-race', 'kid', 'student');
    const clients = await Promise.all([0, 1, 2].map(() => RtcClient.connect(srv.wsUrl, { token })));
    const replies = await Promise.all(clients.map((c) => c.raw('join', {})));
    expect(replies.filter((r) => r.ok)).toHaveLength(1);
    expect(replies.filter((r) => !r.ok).map((r) => r.error.code)).toEqual(['DUPLICATE_IDENTITY', 'DUPLICATE_IDENTITY']);
    expect(srv.handle.rooms.get('dup-race')?.size).toBe(1);
    for (const c of clients) c.close();
  });

  it('createTransport x2 + withdrawConsent {telehealth} in one write: no transport survives, restartIce is refused', async () => {
    const { c, info } = await joined('withdraw-t', 'kid');
    const replies = await burst(c, [
      { method: 'createTransport', data: { direction: 'send' } },
      { method: 'createTransport', data: { direction: 'recv', rtpCapabilities: info.routerRtpCapabilities } },
      { method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
    ]);
    expect(replies.map((r) => r.ok)).toEqual([true, true, true]);
    expect(participantOf('withdraw-t', 'kid').transports.size).toBe(0);
    for (const r of replies.slice(0, 2)) {
      const again = await c.raw('restartIce', { transportId: r.data.transportId });
      expect(again.error.code).toBe('CONSENT_WITHDRAWN');
    }
    c.close();
  });

  it('produce + withdrawConsent {telehealth} in one write: the producer is not listed anywhere', async () => {
    const { c } = await joined('withdraw-p', 'kid');
    const { transportId } = await c.request('createTransport', { direction: 'send' });
    const replies = await burst(c, [
      { method: 'produce', data: { transportId, kind: 'audio', source: 'mic', rtpParameters: opusParameters() } },
      { method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
    ]);
    expect(replies[1].ok).toBe(true);
    expect(participantOf('withdraw-p', 'kid').producers.size).toBe(0);
    const listed = await getJson('/admin/rooms/withdraw-p/participants');
    expect(listed.participants).toEqual([expect.objectContaining({ identity: 'kid', producers: 0, consumers: 0 })]);
    c.close();
  });

  it('an admin kick during createTransport leaves no transport behind', async () => {
    const { c } = await joined('kick-t', 'kid');
    const pending = c.raw('createTransport', { direction: 'send' });
    const kick = fetch(`${srv.url}/admin/rooms/kick-t/kick`, {
      method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ identity: 'kid', durationSeconds: 5 }),
    });
    await kick;
    // The socket is closed by the kick: the response of the running request is never sent.
    expect((await c.closeInfo).reason).toBe('KICKED');
    expect(await Promise.race([pending, Promise.resolve('unanswered')])).toBe('unanswered');
    await until(() => srv.handle.rooms.get('kick-t') === undefined, 'the kicked room to close');
    expect((await getJson('/admin/rooms')).rooms.map((r: { roomId: string }) => r.roomId)).not.toContain('kick-t');
  });
});

describe('strings the media worker cannot parse', () => {
  it('a lone surrogate anywhere in a request is refused before any handler, and the room keeps answering', async () => {
    const { c } = await joined('surrogate', 'kid');
    const { transportId } = await c.request('createTransport', { direction: 'send' });
    const replies = await burst(c, [
      { method: 'connectTransport', data: { transportId, dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256\ud83d', value: 'AA' }] } } },
      { method: 'produce', data: { transportId, kind: 'audio', source: 'mic', rtpParameters: { ...opusParameters(), mid: 'm\ud800' } } },
      { method: 'createTransport', data: { direction: 'send' } },
    ]);
    expect(replies.map((r) => r.ok ? 'ok' : r.error.code)).toEqual(['MALFORMED_MESSAGE', 'MALFORMED_MESSAGE', 'TRANSPORT_LIMIT']);
    c.close();
  });
});

describe('a socket that closes mid-request leaves nothing behind', () => {
  it('join then the socket destroyed in the same write: nobody stays admitted and the identity can join again', async () => {
    for (let i = 0; i < 50; i++) {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(`ghost-${i}`, 'kid', 'student') });
      sendInOneWrite(c.ws, [{ id: 1, method: 'join', data: { consent: TEST_CONSENT, location: TEST_LOCATION } }], { thenDestroy: true });
    }
    await until(() => srv.handle.rooms.rooms.filter((r) => r.id.startsWith('ghost-')).length === 0, 'every ghost room to close');
    const again = await joined('ghost-0', 'kid');
    expect(again.info.resumed).toBe(false);
    again.c.close();
  });
});
