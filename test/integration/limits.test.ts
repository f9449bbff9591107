import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_LOCATION } from '../helpers/ws-client.ts';
import { sendInOneWrite, tcpOf } from '../helpers/one-write.ts';
import { until } from '../helpers/until.ts';
import { safetyClient } from '../helpers/safety-client.ts';

// Limits and backpressure (docs/configuration.md#limits, docs/protocol.md#limits), each against a
// real server with real sockets: the defaults unless a test says otherwise.

/** Every message a socket receives, parsed, in order. */
function recorder(ws: WebSocket): any[] {
  const seen: any[] = [];
  ws.on('message', (raw) => seen.push(JSON.parse(raw.toString())));
  return seen;
}

/** The value of one sample of a metric (0 when absent). */
async function metric(srv: TestServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await srv.handle.metrics.registry.getSingleMetric(name)?.get();
  const hit = m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return hit?.value ?? 0;
}

async function joined(srv: TestServer, room: string, identity: string, role: 'clinician' | 'student' = 'student') {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  const info = await c.request('join', {});
  return { c, info };
}

const auditRows = async (srv: TestServer, room: string, kind?: string) =>
  (await srv.handle.store.auditTrail(room)).filter((e) => kind === undefined || e.kind === kind).length;

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** Round trip of one cheap request (a producer that does not exist: answered by the handler). */
async function roundTrip(c: RtcClient): Promise<number> {
  const t0 = performance.now();
  const res = await c.raw('pauseProducer', { producerId: 'none' });
  if (res.error?.code !== 'PRODUCER_NOT_FOUND') throw new Error(`unexpected ${JSON.stringify(res)}`);
  return performance.now() - t0;
}

async function healthz(srv: TestServer): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${srv.url}/healthz`);
  await res.arrayBuffer();
  return performance.now() - t0;
}

describe('limits with the default configuration', () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startServer(); });
  afterAll(async () => { await srv.close(); });

  it('1,000 requests in one burst: the budget is answered, the rest RATE_LIMITED until the connection is cut (4429)', async () => {
    const { c } = await joined(srv, 'burst', 'kid');
    const seen = recorder(c.ws);
    // One burst: sent in a loop without waiting for anything.
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) c.ws.send(JSON.stringify({ id: i, method: 'pauseProducer', data: { producerId: `p${i}` } }));
    const closed = await c.closeInfo;
    expect(closed).toEqual({ code: 4429, reason: 'RATE_LIMITED' });
    // What the buckets refilled while the burst was being read (50 requests/s, 10 refusals/s): a
    // few on a quiet machine, more on a busy one.
    const seconds = (performance.now() - t0) / 1000;

    const handled = seen.filter((m) => m.error?.code === 'PRODUCER_NOT_FOUND');
    const limited = seen.filter((m) => m.error?.code === 'RATE_LIMITED');
    // The burst (100, less the join's token) plus what refilled meanwhile (50/s) is handled, in request order.
    expect(handled.length).toBeGreaterThanOrEqual(99);
    expect(handled.length).toBeLessThanOrEqual(100 + Math.ceil(50 * seconds));
    expect(handled.map((m) => m.id)).toEqual([...handled.map((m) => m.id)].sort((a, b) => a - b));
    // More than maxRefusals (100) refusals cut the connection; each carries its request's id.
    expect(limited.length).toBeGreaterThanOrEqual(101);
    expect(limited.length).toBeLessThanOrEqual(101 + Math.ceil(10 * seconds));
    for (const m of limited) expect(typeof m.id).toBe('number');
    // Every request the server accepted was answered before the close; the rest were dropped.
    expect(new Set([...handled, ...limited].map((m) => m.id)).size).toBe(handled.length + limited.length);
    expect(handled.length + limited.length).toBeLessThan(1000);
    expect(await metric(srv, 'sfu_signalling_rate_limited_total', { budget: 'requests' })).toBeGreaterThanOrEqual(101);
    expect(await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'RATE_LIMITED' })).toBe(1);
    // The participant was not removed: it is in its reconnection grace.
    await until(() => srv.handle.rooms.get('burst')?.byIdentity('kid')?.connected === false, 'the participant to be detached');
    // Its token cools down: a new connection is refused at the upgrade for cooldownSeconds.
    const again = await RtcClient.connect(srv.wsUrl, { token: srv.mint('burst', 'kid', 'student') }).then(() => undefined, (e) => e);
    expect(again).toEqual({ status: 429, body: { error: { code: 'RATE_LIMITED', message: expect.stringMatching(/retry in \d+ s/) } } });
    expect(await metric(srv, 'sfu_auth_failures_total', { reason: 'RATE_LIMITED' })).toBe(1);
  });

  it('a withdrawal of a held consent scope goes through even when the request budget is spent', async () => {
    const { c } = await joined(srv, 'withdraw-over-budget', 'kid');
    const seen = recorder(c.ws);
    sendInOneWrite(c.ws, [
      ...Array.from({ length: 150 }, (_, i) => ({ id: i, method: 'pauseProducer', data: { producerId: `p${i}` } })),
      { id: 'w', method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
    ]);
    await until(() => seen.some((m) => m.id === 'w'), 'the withdrawal to be answered');
    expect(seen.filter((m) => m.error?.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(40);
    expect(seen.find((m) => m.id === 'w')).toEqual({ id: 'w', ok: true, data: { consentScopes: [], mediaAllowed: false } });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
  });

  it('repeated refused joins close the socket after maxRefusedJoins (3), with 3 refusal records', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('refusals', 'kid', 'student'), autoConsent: false });
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await c.raw('join', {})).error.code);
    expect(codes).toEqual(['CONSENT_REQUIRED', 'CONSENT_REQUIRED', 'CONSENT_REQUIRED']);
    expect(await c.closeInfo).toEqual({ code: 4429, reason: 'TOO_MANY_REFUSED_JOINS' });
    expect(await auditRows(srv, 'refusals')).toBe(3);
    expect(await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'TOO_MANY_REFUSED_JOINS' })).toBe(1);
  });

  it('joins in a loop on fresh sockets of one token: at most the audit burst (5) is recorded', async () => {
    const token = srv.mint('join-loop', 'kid', 'student');
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await RtcClient.connect(srv.wsUrl, { token, autoConsent: false });
      codes.push((await c.raw('join', {})).error.code);
      c.close();
      await c.closeInfo;
    }
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('CONSENT_REQUIRED'));
    expect(codes.slice(5).every((code) => code === 'RATE_LIMITED' || code === 'CONSENT_REQUIRED')).toBe(true);
    // 5 at once, then about one a second (the loop takes well under a second here).
    expect(await auditRows(srv, 'join-loop')).toBeLessThanOrEqual(6);
    expect(await auditRows(srv, 'join-loop')).toBeGreaterThanOrEqual(5);
  });

  it('an audit-writing flood writes at most the audit burst; withdrawing a held scope is never refused', async () => {
    const { c } = await joined(srv, 'audit-flood', 'kid');
    const before = await auditRows(srv, 'audit-flood');
    const t0 = performance.now();
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      i % 2 ? c.raw('withdrawConsent', { scopes: ['recording'] }) : c.raw('updateLocation', { location: TEST_LOCATION })));
    const ok = replies.filter((r) => r.ok).length;
    const limited = replies.filter((r) => r.error?.code === 'RATE_LIMITED').length;
    // The burst (5), plus one a second while the 30 were handled (each write is synced: a busy disk adds some).
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(5 + Math.ceil((performance.now() - t0) / 1000));
    expect(limited).toBe(30 - ok);
    expect(await auditRows(srv, 'audit-flood') - before).toBe(ok);
    // The budget is spent, but a withdrawal of a scope still held always takes effect.
    const withdrawn = await c.request('withdrawConsent', { scopes: ['telehealth'] });
    expect(withdrawn).toEqual({ consentScopes: [], mediaAllowed: false });
    // Withdrawing it again changes nothing: that one is budgeted like any other record.
    const again = await Promise.all(Array.from({ length: 5 }, () => c.raw('withdrawConsent', { scopes: ['telehealth'] })));
    expect(again.some((r) => r.error?.code === 'RATE_LIMITED')).toBe(true);
    expect(await metric(srv, 'sfu_signalling_rate_limited_total', { budget: 'audit' })).toBeGreaterThanOrEqual(limited + 1);
    c.close();
  });

  it('refuses the 5th unjoined connection of a token with HTTP 429 TOO_MANY_CONNECTIONS, before any socket exists', async () => {
    const token = srv.mint('unjoined', 'kid', 'student');
    const open = await Promise.all([0, 1, 2, 3].map(() => RtcClient.connect(srv.wsUrl, { token })));
    const refused = await RtcClient.connect(srv.wsUrl, { token }).then(() => undefined, (e) => e);
    expect(refused).toEqual({ status: 429, body: { error: { code: 'TOO_MANY_CONNECTIONS', message: expect.stringMatching(/4 connections with this token/) } } });
    // The same answer to a plain GET (how a browser learns the code).
    const get = await fetch(`${srv.wsUrl.replace(/^ws/, 'http')}?token=${token}`);
    expect(get.status).toBe(429);
    // Another token (another jti) of the same identity is counted on its own.
    const other = await RtcClient.connect(srv.wsUrl, { token: srv.mint('unjoined', 'kid', 'student', { jti: 'second-device' }) });
    // A connection that joins frees its place; so does one that closes.
    await open[0]!.request('join', {});
    const fifth = await RtcClient.connect(srv.wsUrl, { token });
    expect(await RtcClient.connect(srv.wsUrl, { token }).then(() => 'open', (e) => e.status)).toBe(429);
    open[1]!.close();
    await open[1]!.closeInfo;
    await until(async () => (await RtcClient.connect(srv.wsUrl, { token }).then((c) => { c.close(); return true; }, () => false)), 'a place to be freed');
    expect(await metric(srv, 'sfu_auth_failures_total', { reason: 'TOO_MANY_CONNECTIONS' })).toBeGreaterThanOrEqual(2);
    for (const c of [...open, other, fifth]) c.close();
  });

  it('a client that stops reading while flooding is cut, and the node stays responsive for others', async () => {
    const { c: other } = await joined(srv, 'flood-other', 'doc', 'clinician');
    const idle = median(await sequential(20, () => roundTrip(other)));
    const cutBefore = await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'RATE_LIMITED' });
    const { c: abuser } = await joined(srv, 'flood', 'kid');
    tcpOf(abuser.ws).pause(); // stops reading: responses pile up on the server's side
    const flooding = flood(abuser.ws, () => JSON.stringify({}));
    const during = await sequential(10, () => roundTrip(other));
    const health = await healthz(srv);
    await until(async () => await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'RATE_LIMITED' }) > cutBefore, 'the flooding reader to be cut');
    await flooding;
    console.info(`[limits] flooding reader cut by the rate limit: round trip idle ${idle.toFixed(2)} ms, during flood max ${Math.max(...during).toFixed(2)} ms; /healthz ${health.toFixed(1)} ms`);
    expect(Math.max(...during)).toBeLessThan(Math.max(50 * idle, 250));
    expect(health).toBeLessThan(500);
    other.close();
  });

  it('/safety: events over the socket budget are refused RATE_LIMITED; panic:raise never is', async () => {
    const { c: doc } = await joined(srv, 'safety-limits', 'doc', 'clinician');
    const { c: kid } = await joined(srv, 'safety-limits', 'kid');
    const docSafety = await safetyClient(srv.url, srv.mint('safety-limits', 'doc', 'clinician'), 'websocket');
    const kidSafety = await safetyClient(srv.url, srv.mint('safety-limits', 'kid', 'student'), 'websocket');
    try {
      // 60 acknowledgements of an unknown incident at once: the burst (20) is handled, the rest refused.
      const acks = await Promise.all(Array.from({ length: 60 }, () => docSafety.send('panic:ack', { incidentId: '00000000-0000-4000-8000-000000000000' })));
      const codes = acks.map((r) => r.error?.code);
      // (20 plus what refilled at 10/s while the 60 arrived.)
      const limited = codes.filter((c) => c === 'RATE_LIMITED').length;
      expect(limited).toBeGreaterThanOrEqual(20);
      expect(codes.filter((c) => c !== 'RATE_LIMITED').length).toBeGreaterThanOrEqual(20);
      expect(await metric(srv, 'sfu_safety_events_rate_limited_total', { event: 'panic:ack' })).toBe(limited);
      // 60 raises at once (each a new alarm): not one is refused by a limit.
      const raises = await Promise.all(Array.from({ length: 60 }, (_, i) =>
        kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `limits-raise-${i}` })));
      expect(raises.filter((r) => !r.ok)).toEqual([]);
    } finally {
      docSafety.close(); kidSafety.close(); doc.close(); kid.close();
    }
  });

  it('leave followed at once by a close (page unload) frees the seat at once, though the close overtakes the queued leave', async () => {
    const { c } = await joined(srv, 'unload', 'kid');
    c.ws.send(JSON.stringify({ id: 'bye', method: 'leave' }));
    c.ws.close(1000, 'unload');
    await c.closeInfo;
    // Removed (LEFT), not waiting out the 30 s reconnection grace.
    await until(() => srv.handle.rooms.get('unload')?.byIdentity('kid') === undefined, 'the participant to leave');
    const again = await joined(srv, 'unload', 'kid');
    expect(again.info.resumed).toBe(false);
    again.c.close();
  });

  it('an idle WebSocket is not cut by the HTTP timeouts', async () => {
    const s = await startServer({ http: { connectionTimeoutSeconds: 0.2, requestTimeoutSeconds: 0.2, keepAliveTimeoutSeconds: 0.1 } });
    try {
      const { c } = await joined(s, 'idle', 'kid');
      // Three times the idle timeout with nothing sent either way, then a request is still answered.
      const t0 = Date.now();
      await until(() => Date.now() - t0 > 600, 'time to pass');
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      expect(await roundTrip(c)).toBeGreaterThan(0);
      c.close();
    } finally {
      await s.close();
    }
  });
});

describe('the queue bound, the join deadline and slow readers', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      signalling: {
        // The request budget is out of the way here, so that the other bounds act alone.
        rateLimit: { requestsPerSecond: 100000, burst: 100000, maxRefusals: 100000, refusalWindowSeconds: 10 },
        maxQueuedRequests: 8,
        joinTimeoutSeconds: 0.5,
        maxBufferedBytes: 256 * 1024,
      },
    });
  });
  afterAll(async () => { await srv.close(); });

  it('requests beyond maxQueuedRequests are answered RATE_LIMITED at once, ahead of the queued ones', async () => {
    const { c } = await joined(srv, 'queue', 'kid');
    const seen = recorder(c.ws);
    sendInOneWrite(c.ws, Array.from({ length: 50 }, (_, i) => ({ id: i, method: 'pauseProducer', data: { producerId: `p${i}` } })));
    await until(() => seen.length >= 50, 'all 50 responses');
    // 8 queued (handled one at a time, in order); the 42 others refused at once, before any of them.
    expect(seen.slice(0, 42).map((m) => [m.id, m.error.code])).toEqual(Array.from({ length: 42 }, (_, i) => [i + 8, 'RATE_LIMITED']));
    expect(seen.slice(42).map((m) => [m.id, m.error.code])).toEqual(Array.from({ length: 8 }, (_, i) => [i, 'PRODUCER_NOT_FOUND']));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(await metric(srv, 'sfu_signalling_rate_limited_total', { budget: 'queue' })).toBe(42);
    c.close();
  });

  it('closes a connection that has not joined within joinTimeoutSeconds with 4408 JOIN_TIMEOUT', async () => {
    const [lazy, prompt] = await Promise.all([
      RtcClient.connect(srv.wsUrl, { token: srv.mint('deadline', 'lazy', 'student') }),
      RtcClient.connect(srv.wsUrl, { token: srv.mint('deadline', 'prompt', 'student') }),
    ]);
    await prompt.request('join', {});
    expect(await lazy.closeInfo).toEqual({ code: 4408, reason: 'JOIN_TIMEOUT' });
    // Both were opened together: the deadline has passed for the one that joined too.
    expect(prompt.ws.readyState).toBe(WebSocket.OPEN);
    expect(await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'JOIN_TIMEOUT' })).toBe(1);
    prompt.close();
  });

  it('terminates a client that stops reading once its unread output passes maxBufferedBytes; RSS and others stay fine', async () => {
    const { c: other } = await joined(srv, 'slow-other', 'doc', 'clinician');
    const idle = median(await sequential(20, () => roundTrip(other)));
    const { c: slow } = await joined(srv, 'slow', 'kid');
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 20);
    tcpOf(slow.ws).pause();
    // Each request is answered with about 200 bytes (an unknown method of 64 characters, echoed).
    const longId = 'i'.repeat(64);
    const flooding = flood(slow.ws, () => JSON.stringify({ id: longId, method: 'm'.repeat(64) }));
    const during: number[] = [];
    let health = 0;
    while (await metric(srv, 'sfu_signalling_connections_cut_total', { reason: 'SLOW_READER' }) === 0) {
      during.push(await roundTrip(other));
      health = Math.max(health, await healthz(srv));
      if (during.length > 2000) throw new Error('the slow reader was never cut');
    }
    await flooding;
    clearInterval(sampler);
    const grewMiB = (rssPeak - rssBefore) / 2 ** 20;
    console.info(`[limits] slow reader cut after ${during.length} round trips of another client: idle ${idle.toFixed(2)} ms, during median ${median(during).toFixed(2)} / max ${Math.max(...during).toFixed(2)} ms; /healthz max ${health.toFixed(1)} ms; RSS +${grewMiB.toFixed(1)} MiB`);
    // The participant was detached (reconnection grace), not removed.
    await until(() => srv.handle.rooms.get('slow')?.byIdentity('kid')?.connected === false, 'the slow reader to be detached');
    // Generous: with the request budget out of the way the flood keeps the event loop busy until
    // the cut (about half a second); without the output bound it took /healthz 4.5-15 s.
    expect(median(during)).toBeLessThan(Math.max(200 * idle, 100));
    expect(Math.max(...during)).toBeLessThan(Math.max(1000 * idle, 1000));
    expect(health).toBeLessThan(1000);
    // The old behaviour grew the server by hundreds of MiB; bounded output keeps it small.
    expect(grewMiB).toBeLessThan(100);
    other.close();
  });
});

async function sequential(n: number, f: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

/**
 * Sends `frame()` as fast as the client's own socket takes it (waiting when its send buffer passes
 * 1 MiB, so the flooding client does not grow itself) until the server ends the connection;
 * gives up after 20 s.
 */
async function flood(ws: WebSocket, frame: () => string): Promise<void> {
  const tcp = tcpOf(ws);
  const deadline = Date.now() + 20_000;
  let gone = false;
  tcp.once('close', () => { gone = true; });
  while (!gone && ws.readyState === WebSocket.OPEN && Date.now() < deadline) {
    for (let i = 0; i < 200 && ws.readyState === WebSocket.OPEN; i++) ws.send(frame());
    if (tcp.writableLength > 1024 * 1024) await Promise.race([once(tcp, 'drain'), once(tcp, 'close')]);
    else await new Promise((r) => setImmediate(r));
  }
  if (!gone && Date.now() >= deadline) throw new Error('flood: the server never ended the connection');
  if (!gone) await once(tcp, 'close');
}
