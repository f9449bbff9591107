/**
 * What the docs promise a client that has only docs/protocol.md, errors.md, safety.md and
 * operations.md, at the edges an independent prober found wanting: every refusal coded as
 * documented, nothing silently dropped, no hang. Real server, real sockets.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { opusParameters, RtcClient } from '../helpers/ws-client.ts';
import { io } from 'socket.io-client';
import { safetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const json = { ...admin, 'content-type': 'application/json' };
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

async function joined(room: string, identity: string) {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, 'clinician') });
  return { c, info: await c.request('join', {}) };
}

async function coded(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = await res.json() as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
}

describe('signalling (docs/protocol.md, "Validation and limits")', () => {
  it('answers a request nested deeper than 16 levels INVALID_REQUEST with its id, and the connection goes on', async () => {
    const { c } = await joined('dc1', 'doc');
    const reply = await c.sendText(`{"id":"deep-1","method":"join","data":{"x":${nested(20_000)}}}`);
    expect(reply).toEqual({ id: 'deep-1', ok: false, error: { code: 'INVALID_REQUEST', message: expect.stringContaining('16 levels') } });
    expect((await c.raw('restartIce', { transportId: 'none' })).error.code).toBe('TRANSPORT_NOT_FOUND');
    c.close();
  });

  it('refuses a displayName or consent name with control characters or bidirectional overrides; any script is fine', async () => {
    for (const [i, bad] of ['Dr\nRivera', 'a\u0000b', '\u202eareviR rD'].entries()) {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dc10', `bad-${i}`, 'clinician') });
      const res = await c.raw('join', { displayName: bad });
      expect(res.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('displayName') });
      c.close();
    }
    const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dc10', 'kid', 'student') });
    const guardian = { policyVersion: '2026-09', scopes: ['telehealth'], grantedBy: { relation: 'guardian', name: 'Ana\u202e' }, method: 'electronic' };
    expect((await kid.raw('join', { consent: guardian })).error).toMatchObject({ code: 'INVALID_CONSENT', message: expect.stringContaining('consent.grantedBy.name') });
    kid.close();
    for (const [i, good] of ['Zoë O\'Brien', '李雷', 'مريم', 'Sam 🙂'].entries()) {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dc10', `good-${i}`, 'guardian') });
      expect((await c.request('join', { displayName: good })).participantId).toEqual(expect.any(String));
      c.close();
    }
  });

  it('refuses a deeply nested unread key in rtpParameters as INVALID_REQUEST, not MEDIA_ERROR; the source stays free', async () => {
    const { c } = await joined('dc2', 'doc');
    const send = await c.request('createTransport', { direction: 'send' });
    const request = JSON.stringify({ id: 'deep-2', method: 'produce', data: { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: { ...opusParameters(), extra: 'X' } } })
      .replace('"X"', nested(20_000));
    const reply = await c.sendText(request);
    expect(reply.error.code).toBe('INVALID_REQUEST');
    // A tree of the documented depth (a codec's rtcpFeedback entries, level 7) is fine, and mic was not taken.
    const produced = await c.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: { ...opusParameters(), codecs: [{ ...opusParameters().codecs[0], rtcpFeedback: [{ type: 'transport-cc', parameter: '' }] }] } });
    expect(produced.producerId).toEqual(expect.any(String));
    c.close();
  });
});

describe('reconnection (docs/protocol.md, "Reconnection")', () => {
  it('tells a resumed participant when its queue of 500 notifications overflowed: notificationsDropped {count}', async () => {
    const fast = await startServer({ signalling: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000, maxRefusals: 100_000, refusalWindowSeconds: 10 } } });
    try {
      const pub = await RtcClient.connect(fast.wsUrl, { token: fast.mint('dc9', 'doc', 'clinician') });
      const joinedPub = await pub.request('join', {});
      const sub = await RtcClient.connect(fast.wsUrl, { token: fast.mint('dc9', 'kid', 'guardian') });
      const joinedSub = await sub.request('join', {});
      await sub.request('createTransport', { direction: 'recv', rtpCapabilities: joinedPub.routerRtpCapabilities });
      const send = await pub.request('createTransport', { direction: 'send' });
      const { producerId } = await pub.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: opusParameters() });
      await sub.waitFor('newConsumer');
      sub.ws.terminate();
      await pub.waitFor('participantConnection', (d) => d.state === 'reconnecting');
      // 520 pauses and resumes: one consumerPaused / consumerResumed each for the one away.
      for (let i = 0; i < 520; i++) await pub.request(i % 2 === 0 ? 'pauseProducer' : 'resumeProducer', { producerId });
      const back = await RtcClient.connect(fast.wsUrl, { token: fast.mint('dc9', 'kid', 'guardian') });
      await back.request('join', { resumeToken: joinedSub.resumeToken });
      const dropped = await back.waitFor('notificationsDropped');
      const queued = back.notifications.findIndex((n) => n.notification === 'notificationsDropped');
      expect(queued).toBe(500);
      // 520 consumer notifications (and perhaps an activeSpeaker) were sent while it was away: 500 kept.
      expect(dropped.count).toBeGreaterThanOrEqual(20);
      expect(dropped.count).toBeLessThanOrEqual(22);
      for (const c of [pub, back]) c.close();
    } finally {
      await fast.close();
    }
  });
});

describe('HTTP (docs/operations.md "Admin API", docs/protocol.md "Checking a link")', () => {
  it('administers a room whose id has 101-128 characters (a valid room claim); a longer id or a bad URL is a coded 400', async () => {
    const room = `r${'x'.repeat(109)}`; // 110 characters
    const { c } = await joined(room, 'kid');
    const kick = await fetch(`${srv.url}/admin/rooms/${room}/kick`, { method: 'POST', headers: json, body: JSON.stringify({ identity: 'kid', durationSeconds: 60 }) });
    expect(kick.status).toBe(200);
    expect(await kick.json()).toMatchObject({ kicked: 1 });
    expect((await c.closeInfo).code).toBe(4403);
    const long = await fetch(`${srv.url}/admin/rooms/${'y'.repeat(129)}/revocations`, { headers: admin });
    expect(await coded(long)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    const veryLong = await fetch(`${srv.url}/admin/rooms/${'y'.repeat(600)}/revocations`, { headers: admin });
    expect(await coded(veryLong)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    const badUrl = await fetch(`${srv.url}/admin/rooms/%E0%A4%A/revocations`, { headers: admin });
    expect(await coded(badUrl)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    // ':' and '@' are room id characters, percent-encoded or not.
    expect((await fetch(`${srv.url}/admin/rooms/a%3Ab%40c/revocations`, { headers: admin })).status).toBe(200);
  });

  it('answers headers over 16 KiB (a huge token in the URL) with a coded 431, on a plain request and on an upgrade', async () => {
    const huge = 'x'.repeat(20_000);
    expect(await coded(await fetch(`${srv.url}/rtc?token=${huge}`))).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
    const refused = await RtcClient.connect(`${srv.wsUrl}?token=${huge}`).then(() => undefined, (err: unknown) => err);
    expect(refused).toMatchObject({ status: 431, body: { error: { code: 'HEADERS_TOO_LARGE' } } });
  });

  it('answers a request not sent whole within http.requestTimeoutSeconds with a coded 408', async () => {
    const slow = await startServer({ http: { requestTimeoutSeconds: 0.3 } });
    try {
      const socket = connect(Number(new URL(slow.url).port), '127.0.0.1');
      let answer = '';
      socket.on('data', (d: Buffer) => { answer += d.toString(); });
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // never ends its headers
      await closed;
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'HTTP_REQUEST_TIMEOUT' } });
    } finally {
      await slow.close();
    }
  });

  it('counts every link check against the address budget, malformed ones too', async () => {
    const tight = await startServer({ http: { linkCheckRateLimit: { requestsPerSecond: 0.01, burst: 2 } } });
    try {
      const post = (body: string) => fetch(`${tight.url}/api/link-check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect((await post('{"token":5}')).status).toBe(400);
      expect((await post('{')).status).toBe(400);
      const over = await post(JSON.stringify({ token: tight.mint('dc8', 'kid', 'student') }));
      expect(over.headers.get('cache-control')).toBe('no-store');
      expect(await coded(over)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    } finally {
      await tight.close();
    }
  });

  it('refuses a kick body with an unknown or mistyped field, and revokes nothing', async () => {
    const typo = await fetch(`${srv.url}/admin/rooms/dc3/kick`, { method: 'POST', headers: json, body: JSON.stringify({ identity: 'kid', duration: 60 }) });
    expect(await coded(typo)).toMatchObject({ status: 400, code: 'INVALID_REQUEST', message: expect.stringContaining('duration') });
    const asText = await fetch(`${srv.url}/admin/rooms/dc3/kick`, { method: 'POST', headers: json, body: JSON.stringify({ identity: 'kid', durationSeconds: '60' }) });
    expect(await coded(asText)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    const list = await (await fetch(`${srv.url}/admin/rooms/dc3/revocations`, { headers: admin })).json();
    expect(list).toEqual({ revocations: [] });
    // An id no token can carry names no room or person: refused, not recorded.
    const spaced = await fetch(`${srv.url}/admin/rooms/dc3/kick`, { method: 'POST', headers: json, body: JSON.stringify({ identity: 'kid ' }) });
    expect(await coded(spaced)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect(await coded(await fetch(`${srv.url}/admin/rooms/dc%203/revocations`, { headers: admin }))).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    // The identity can still get in.
    const { c } = await joined('dc3', 'kid');
    c.close();
  });

  it('answers a link check whose body is not {token, room} INVALID_REQUEST, not a token code', async () => {
    const check = (body: unknown) => fetch(`${srv.url}/api/link-check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await coded(await check({ token: 5 }))).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    const extra = await coded(await check({ token: srv.mint('dc4', 'kid', 'student'), from: 'email' }));
    expect(extra).toMatchObject({ status: 400, code: 'INVALID_REQUEST', message: expect.stringContaining('from') });
    expect((await check({ token: srv.mint('dc4', 'kid', 'student') })).status).toBe(200);
  });
});

describe('Authorization: Bearer (docs/protocol.md "Connecting", "Checking a link"; operations.md "Admin API")', () => {
  it('takes the scheme in any case, as HTTP does (bearer, BEARER)', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { headers: { authorization: `bearer ${srv.mint('dc6', 'doc', 'clinician')}` } });
    expect((await c.request('join', {})).roomId).toBe('dc6');
    c.close();
    const check = await fetch(`${srv.url}/api/link-check`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `BEARER ${srv.mint('dc6', 'kid', 'student')}` }, body: '{}' });
    expect(check.status).toBe(200);
    expect((await fetch(`${srv.url}/admin/rooms`, { headers: { authorization: `bearer ${TEST_ADMIN_TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${srv.url}/admin/rooms`, { headers: { authorization: `Basic ${TEST_ADMIN_TOKEN}` } })).status).toBe(401);
  });
});

describe('/safety (docs/safety.md, "Transport")', () => {
  it('answers an event it does not have UNKNOWN_METHOD instead of leaving the acknowledgement waiting', async () => {
    const { c } = await joined('dc5', 'doc');
    const s = await safetyClient(srv.url, srv.mint('dc5', 'doc', 'clinician'), 'websocket');
    expect(await s.send('panic:acknowledge', { incidentId: 'x' })).toEqual({ ok: false, error: { code: 'UNKNOWN_METHOD', message: expect.any(String) } });
    expect(await s.send('toString', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    // The known events still answer as before.
    expect(await s.send('panic:ack', { incidentId: 'nope' })).toMatchObject({ ok: false, error: { code: 'INCIDENT_NOT_FOUND' } });
    s.close();
    c.close();
  });

  it('refuses socket.io\'s main namespace: only /safety holds connections, and only authenticated ones', async () => {
    const socket = io(`${srv.url}/`, { path: '/socket.io', transports: ['websocket'], reconnection: false, forceNew: true });
    const refusal = await new Promise<{ message: string; data?: unknown }>((resolve) => {
      socket.once('connect', () => resolve({ message: 'connected' }));
      socket.once('connect_error', (err) => resolve(err as { message: string; data?: unknown }));
    });
    socket.close();
    expect(refusal).toMatchObject({ message: 'NOT_FOUND', data: { code: 'NOT_FOUND' } });
  });

  it('holds at most maxSocketsPerIdentity sockets per identity: a new one always gets in, the oldest is closed with panic:closed', async () => {
    const capped = await startServer({ safety: { socket: { maxSocketsPerIdentity: 3 } } });
    try {
      const token = capped.mint('dc7', 'kid', 'student');
      const sockets = [];
      for (let i = 0; i < 5; i++) sockets.push(await safetyClient(capped.url, token, 'websocket'));
      // The two oldest were closed, each told why; the three newest are open.
      for (const old of sockets.slice(0, 2)) {
        expect(await old.waitFor('panic:closed')).toMatchObject({ code: 'TOO_MANY_CONNECTIONS' });
        await until(() => !old.socket.connected, 'the oldest socket to be disconnected');
      }
      expect(sockets.slice(2).map((s) => s.socket.connected)).toEqual([true, true, true]);
      // Another identity is not counted with it.
      const other = await safetyClient(capped.url, capped.mint('dc7', 'doc', 'clinician'), 'websocket');
      expect(other.socket.connected).toBe(true);
      expect(sockets[4]!.events.some((e) => e.event === 'panic:closed')).toBe(false);
      for (const s of [...sockets, other]) s.close();
    } finally {
      await capped.close();
    }
  });
});
