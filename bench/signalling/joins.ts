import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startServer } from '../../test/helpers/server.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { percentile } from '../media/sink.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v * 100) / 100;

/**
 * Joins over the real WebSocket protocol at a fixed rate: connect (upgrade with JWT verification),
 * join (consent and location validated and committed to SQLite), then send and recv transports.
 * Latency per phase, joins/s achieved, and the Node event-loop delay throughout. Clients and the
 * server share this process, so the event loop carries both (an upper bound for the server alone).
 */
export async function joinBench(opts: { ratePerSecond: number; seconds: number; roomSize: number }) {
  const srv = await startServer({ media: { workers: 1 }, rooms: { maxParticipants: Math.max(12, opts.roomSize) } });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const phases = { connect: [] as number[], join: [] as number[], transports: [] as number[], total: [] as number[] };
  const clients: RtcClient[] = [];
  let failures = 0;
  try {
    loop.enable();
    const total = opts.ratePerSecond * opts.seconds;
    const started = performance.now();
    const runs: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / opts.ratePerSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      runs.push((async () => {
        const t0 = performance.now();
        try {
          const room = `bench-${Math.floor(i / opts.roomSize)}`;
          const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, `p${i}`, i % opts.roomSize === 0 ? 'clinician' : 'student') });
          clients.push(c);
          const t1 = performance.now();
          const joined = await c.request('join', {});
          const t2 = performance.now();
          await c.request('createTransport', { direction: 'send' });
          await c.request('createTransport', { direction: 'recv', rtpCapabilities: joined.routerRtpCapabilities });
          const t3 = performance.now();
          phases.connect.push(t1 - t0);
          phases.join.push(t2 - t1);
          phases.transports.push(t3 - t2);
          phases.total.push(t3 - t0);
        } catch {
          failures++;
        }
      })());
    }
    await Promise.all(runs);
    const elapsed = (performance.now() - started) / 1000;
    loop.disable();
    const stats = (v: number[]) => ({ p50: ms(percentile(v, 50)), p95: ms(percentile(v, 95)), p99: ms(percentile(v, 99)) });
    return {
      bench: 'signalling', ratePerSecond: opts.ratePerSecond, seconds: opts.seconds, joins: phases.total.length, failures,
      joinsPerSecond: ms(phases.total.length / elapsed),
      latencyMs: { connect: stats(phases.connect), join: stats(phases.join), transports: stats(phases.transports), total: stats(phases.total) },
      eventLoopDelayMs: { p50: ms(loop.percentile(50) / 1e6), p99: ms(loop.percentile(99) / 1e6), max: ms(loop.max / 1e6) },
    };
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
}
