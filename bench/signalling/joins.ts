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

/**
 * The bell-time storm: `joins` participants join at `ratePerSecond` (the start of a school period,
 * every session at once), each with consent and location committed to the store before its answer,
 * first on SQLite (the embedded default, its own worker thread), then on PostgreSQL (a throwaway
 * server on 127.0.0.1, test/helpers/postgres.ts; skipped with a reason where none can be started).
 * The clients run in a child process (storm-clients.ts), so the event-loop delay is the server's.
 * Connections stay open until the last join answered (rooms of `roomSize`: a clinician and
 * students). Goals: join p99 < 100 ms, event-loop p99 < 20 ms, 0 failures.
 */
export async function stormBench(opts: { joins: number; ratePerSecond: number; roomSize: number; postgres: boolean; sqlite?: boolean; log?: (line: string) => void }) {
  const out: Record<string, unknown> = { joins: opts.joins, ratePerSecond: opts.ratePerSecond, roomSize: opts.roomSize, goals: { joinP99Ms: 100, eventLoopP99Ms: 20, failures: 0 } };
  if (opts.sqlite !== false) out.sqlite = await stormOn('', opts);
  if (!opts.postgres) {
    out.postgres = { skipped: 'quick run: the PostgreSQL storm runs in the full bench only' };
    return out;
  }
  const { startPostgres } = await import('../../test/helpers/postgres.ts');
  const pg = await startPostgres();
  if (!pg) {
    out.postgres = { skipped: 'PostgreSQL could not be started (see the warning above)' };
    return out;
  }
  try {
    out.postgres = await stormOn(pg.url, opts);
  } finally {
    pg.stop();
  }
  return out;
}

async function stormOn(storeUrl: string, opts: { joins: number; ratePerSecond: number; roomSize: number; log?: (line: string) => void }) {
  const srv = await startServer({ media: { workers: 1 }, rooms: { maxParticipants: Math.max(12, opts.roomSize) }, store: { url: storeUrl } });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  try {
    const { spawn } = await import('node:child_process');
    const { TEST_SECRET } = await import('../../test/helpers/server.ts');
    const child = spawn(process.execPath, [new URL('./storm-clients.ts', import.meta.url).pathname, JSON.stringify({
      wsUrl: srv.wsUrl, secret: TEST_SECRET, joins: opts.joins, ratePerSecond: opts.ratePerSecond, roomSize: opts.roomSize, prefix: 'storm',
    })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
    loop.enable();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    loop.disable();
    if (code !== 0) throw new Error(`storm clients exited with ${code}`);
    const { elapsedMs, outcomes } = JSON.parse(stdout) as { elapsedMs: number; outcomes: { connectMs: number; joinMs: number; code?: string }[] };
    const ok = outcomes.filter((o) => !o.code);
    const failures: Record<string, number> = {};
    for (const o of outcomes) if (o.code) failures[o.code] = (failures[o.code] ?? 0) + 1;
    const stats = (v: number[]) => ({ p50: ms(percentile(v, 50)), p95: ms(percentile(v, 95)), p99: ms(percentile(v, 99)), max: ms(Math.max(0, ...v)) });
    const result = {
      store: storeUrl === '' ? 'sqlite' : 'postgres', joins: ok.length, failures: outcomes.length - ok.length, failuresByCode: failures,
      joinsPerSecond: ms(outcomes.length / (elapsedMs / 1000)),
      latencyMs: { connect: stats(ok.map((o) => o.connectMs)), join: stats(ok.map((o) => o.joinMs)) },
      eventLoopDelayMs: { p50: ms(loop.percentile(50) / 1e6), p99: ms(loop.percentile(99) / 1e6), max: ms(loop.max / 1e6) },
    };
    opts.log?.(`storm on ${result.store}: ${result.joins} joined, ${result.failures} failed, join p99 ${result.latencyMs.join.p99} ms, event loop p99 ${result.eventLoopDelayMs.p99} ms`);
    return result;
  } finally {
    await srv.close();
  }
}
