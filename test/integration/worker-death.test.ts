import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

describe('a mediasoup worker killed with SIGKILL', () => {
  it('is replaced; its rooms close with WORKER_DIED; new joins work', async () => {
    const a = await RtcClient.connect(srv.wsUrl, { token: srv.mint('w1', 'clin', 'clinician') });
    await a.request('join', {});
    const [pid] = srv.handle.pool.pids;
    expect(pid).toBeTypeOf('number');
    process.kill(pid!, 'SIGKILL');

    expect(await a.waitFor('roomClosed', () => true, 5000)).toEqual({ reason: 'WORKER_DIED' });
    expect((await a.closeInfo).code).toBe(4410);
    await until(() => srv.handle.pool.healthy && srv.handle.pool.pids[0] !== pid, 'a replacement worker');
    expect(srv.handle.pool.pids).toHaveLength(1);

    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_worker_deaths_total 1/);
    expect(metrics).toMatch(/sfu_workers 1/);
    // The slots the pool keeps filled (SfuWorkerSlotEmpty compares the two).
    expect(metrics).toMatch(/^sfu_worker_slots 1$/m);

    const b = await RtcClient.connect(srv.wsUrl, { token: srv.mint('w1', 'clin', 'clinician') });
    const again = await b.request('join', {});
    expect(again.resumed).toBe(false);
    const t = await b.request('createTransport', { direction: 'send' });
    expect(t.transportId).toBeTruthy();
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    b.close();
  });
});
