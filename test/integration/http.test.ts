import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ drain: { timeoutSeconds: 1 } }); });
afterAll(async () => { await srv.close(); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

describe('HTTP and operations', () => {
  it('serves health, readiness and Prometheus metrics with the documented names', async () => {
    expect(await (await fetch(`${srv.url}/healthz`)).json() as any).toEqual({ status: 'ok' });
    const ready = await fetch(`${srv.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await ready.json() as any).checks).toEqual({ workers: true, accepting: true, store: true, panic: true });
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    for (const name of ['sfu_rooms', 'sfu_participants', 'sfu_producers', 'sfu_consumers', 'sfu_workers', 'sfu_worker_cpu_seconds_total',
      'sfu_worker_deaths_total', 'sfu_join_duration_seconds', 'sfu_signalling_requests_total', 'sfu_auth_failures_total', 'process_cpu_seconds_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // The version operators read: the node lib's, which the worker must match (FlatBuffers channel).
    const mediasoupVersion = (await import('mediasoup')).version;
    expect(text).toContain(`sfu_build_info{mediasoup="${mediasoupVersion}"} 1`);
  });

  it('lists rooms and participants to the admin, without names', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('h1', 'clin', 'clinician') });
    await c.request('join', { displayName: 'Dr Secret Name' });
    await c.request('createTransport', { direction: 'send' });
    const rooms = await (await fetch(`${srv.url}/admin/rooms`, { headers: admin })).json() as any;
    expect(rooms.rooms).toEqual([expect.objectContaining({ roomId: 'h1', participants: 1 })]);
    const res = await fetch(`${srv.url}/admin/rooms/h1/participants`, { headers: admin });
    const body = await res.text();
    expect(JSON.parse(body).participants[0]).toMatchObject({ identity: 'clin', role: 'clinician', connected: true });
    // Its transports, and no selected tuple before ICE (test/e2e/ice-tcp.test.ts: 'tcp' once connected over TCP).
    expect(JSON.parse(body).participants[0].transports).toEqual([{ direction: 'send', iceState: 'new', dtlsState: 'new' }]);
    expect(body).not.toContain('Secret');
    expect((await fetch(`${srv.url}/admin/rooms/nope/participants`, { headers: admin })).status).toBe(404);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_participants\{role="clinician"\} 1/);
    expect(metrics).toMatch(/sfu_join_duration_seconds_count 1/);
    c.close();
  });

  it('answers unknown routes and bad admin bodies with coded errors', async () => {
    const nf = await fetch(`${srv.url}/nope/nope`);
    expect(nf.status).toBe(404);
    expect((await nf.json() as any).error.code).toBe('NOT_FOUND');
    const bad = await fetch(`${srv.url}/admin/rooms/x/kick`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{"durationSeconds":"soon"}' });
    expect(bad.status).toBe(400);
    expect((await bad.json() as any).error.code).toBe('INVALID_REQUEST');
    const none = await fetch(`${srv.url}/admin/rooms/x/kick`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{}' });
    expect((await none.json() as any).error.code).toBe('INVALID_REQUEST');
  });

  it('drains: tells clients, refuses new connections, then closes the rooms', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('h2', 'clin', 'clinician') });
    await c.request('join', {});
    const draining = srv.handle.drain();
    expect(await c.waitFor('serverDraining')).toEqual({ deadlineSeconds: 1 });
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(503);
    const refused = await RtcClient.connect(srv.wsUrl, { token: srv.mint('h2', 'late', 'student') }).catch((e) => e);
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'SERVER_DRAINING' } } });
    expect(await c.waitFor('roomClosed', () => true, 5000)).toEqual({ reason: 'SERVER_DRAINING' });
    await draining;
  });
});
