import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../../test/helpers/server.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { safetyClient, type SafetyClient } from '../../test/helpers/safety-client.ts';
import { percentile } from '../media/sink.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v * 100) / 100;
const CHILD = fileURLToPath(new URL('./flood-child.ts', import.meta.url));

/**
 * Server overrides for the comparisons in bench/README.md (by hand: `node bench/signalling/flood.ts
 * --variant <name> [--rounds N]`): the default limits, the default limits without the cool-down
 * after a 4429 (the abuser reconnects at once, every connection with a fresh budget), and every
 * limit raised out of the way (the node as it was before them).
 */
export const FLOOD_VARIANTS: Record<string, Record<string, unknown> | undefined> = {
  default: undefined,
  'no-cooldown': { signalling: { rateLimit: { cooldownSeconds: 0 } } },
  'no-limits': {
    signalling: {
      rateLimit: { requestsPerSecond: 100000, burst: 100000, maxRefusals: 1000000, refusalWindowSeconds: 1, cooldownSeconds: 0 },
      auditRateLimit: { requestsPerSecond: 100000, burst: 100000 }, maxQueuedRequests: 100000, maxRefusedJoins: 1000, maxBufferedBytes: 1073741824,
    },
  },
};

interface Latencies { p50Ms: number; p99Ms: number; maxMs: number; n: number }
const stats = (v: number[]): Latencies => ({ p50Ms: ms(percentile(v, 50)), p99Ms: ms(percentile(v, 99)), maxMs: ms(Math.max(...v)), n: v.length });

interface Phase {
  /** Connect (upgrade) + join of a fresh participant, measured by the normal client. */
  join: Latencies;
  /** From panic:raise sent to the desk receiving the alert. */
  panic: Latencies;
  lostAlarms: number;
  failedJoins: number;
  eventLoopP99Ms: number;
}

/**
 * "A flood next to a normal client": the normal client of a school (in this process, next to the
 * server) joins fresh participants and raises panic alarms that a safety desk receives, first with
 * the node idle, then while an abusive client in its own process floods it (bench/signalling/
 * flood-child.ts: a client sending `ratePerSecond` cheap valid requests, a join retrier, and a
 * slow reader that floods at the same rate, each reconnecting whenever it is cut). The figure is the normal client's p99 under flood against
 * idle (goal: within 2x), over `rounds` rounds (each: idle, then flood), with the spread.
 * Default limits (config/default.json) unless `overrides` says otherwise.
 */
export async function floodBench(opts: {
  rounds: number; iterations: number; ratePerSecond: number; intervalMs: number;
  /** Server config overrides, e.g. the limits raised out of the way to see the node without them (by hand only). */
  overrides?: Record<string, unknown>;
  log?: (line: string) => void;
}) {
  const srv = await startServer({ media: { workers: 1 }, safety: { tiers: [{ afterSeconds: 0, notify: ['desk'] }] }, ...opts.overrides });
  const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-flood', rooms: ['*'] }), 'websocket');
  const rounds: object[] = [];
  try {
    // Warm-up (not measured): the first joins and raises of a process pay for JIT compilation.
    await phase(srv, desk, 'warm-up', { iterations: 10, intervalMs: 0 });
    for (let r = 1; r <= opts.rounds; r++) {
      const idle = await phase(srv, desk, `r${r}-idle`, opts);
      const before = await counters(srv);
      const abuse = startAbuse(srv, r, opts);
      await abuse.started;
      const flood = await phase(srv, desk, `r${r}-flood`, opts);
      const abuser = await abuse.stop();
      const after = await counters(srv);
      const server = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
      const auditRows = (await srv.handle.store.auditTrail(`abuse-${r}`)).length;
      const round = {
        round: r, idle, flood,
        joinP99Ratio: ms(flood.join.p99Ms / idle.join.p99Ms),
        panicP99Ratio: ms(flood.panic.p99Ms / idle.panic.p99Ms),
        abuser: { ...abuser, requestsPerSecond: ms(abuser.sent / abuser.seconds) },
        server: { ...server, auditRowsWrittenByAbusers: auditRows },
      };
      opts.log?.(`flood round ${r}: join p99 ${idle.join.p99Ms} -> ${flood.join.p99Ms} ms, panic p99 ${idle.panic.p99Ms} -> ${flood.panic.p99Ms} ms, abuser ${round.abuser.requestsPerSecond} req/s`);
      rounds.push(round);
    }
    const spread = (key: 'joinP99Ratio' | 'panicP99Ratio') => {
      const v = rounds.map((x) => (x as Record<string, number>)[key]!).sort((a, b) => a - b);
      return { median: v[Math.floor(v.length / 2)]!, min: v[0]!, max: v.at(-1)! };
    };
    return {
      bench: 'flood', ...(opts.overrides ? { overrides: opts.overrides } : {}), rounds: opts.rounds, iterationsPerPhase: opts.iterations, abuseRatePerSecond: opts.ratePerSecond,
      joinP99Ratio: spread('joinP99Ratio'), panicP99Ratio: spread('panicP99Ratio'), ratioTarget: 2,
      perRound: rounds,
    };
  } finally {
    desk.close();
    await srv.close();
  }
}

/**
 * One phase: `iterations` times, a fresh participant connects and joins (then leaves), and a
 * student prepared beforehand (joined in its own room, /safety open) raises an alarm, timed until
 * the desk receives it.
 */
async function phase(srv: TestServer, desk: SafetyClient, tag: string, opts: { iterations: number; intervalMs: number }): Promise<Phase> {
  const raisers: { c: RtcClient; s: SafetyClient }[] = [];
  for (let i = 0; i < opts.iterations; i += 10) {
    raisers.push(...await Promise.all(Array.from({ length: Math.min(10, opts.iterations - i) }, async (_, k) => {
      const room = `${tag}-panic-${i + k}`;
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
      await c.request('join', {});
      return { c, s: await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket') };
    })));
  }
  const joins: number[] = [];
  const alarms: number[] = [];
  let lost = 0;
  let failed = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  try {
    for (let i = 0; i < opts.iterations; i++) {
      const t0 = performance.now();
      try {
        const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(`${tag}-join-${i >> 1}`, `p${i}`, i % 2 ? 'student' : 'clinician') });
        await c.request('join', {});
        joins.push(performance.now() - t0);
        await c.request('leave');
      } catch {
        failed++;
      }
      const t1 = performance.now();
      const res = await raisers[i]!.s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `flood-${tag}-${i}` });
      try {
        await desk.waitFor('panic:alert', (d) => d.incident.id === res.data.incidentId, 5000);
        alarms.push(desk.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === res.data.incidentId)!.at - t1);
      } catch {
        lost++;
      }
      await sleep(opts.intervalMs);
    }
  } finally {
    loop.disable();
    for (const { c, s } of raisers) { s.close(); c.close(); }
  }
  return { join: stats(joins), panic: stats(alarms), lostAlarms: lost, failedJoins: failed, eventLoopP99Ms: ms(loop.percentile(99) / 1e6) };
}

/** The server's limit counters (sfu_signalling_rate_limited_total, ..._connections_cut_total, refused upgrades). */
async function counters(srv: TestServer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, label] of [['sfu_signalling_rate_limited_total', 'budget'], ['sfu_signalling_connections_cut_total', 'reason'], ['sfu_auth_failures_total', 'reason']] as const) {
    const m = await srv.handle.metrics.registry.getSingleMetric(name)?.get();
    for (const v of m?.values ?? []) out[`${name.replace(/^sfu_|_total$/g, '')}.${v.labels[label]}`] = v.value;
  }
  return out;
}

interface AbuserCounts { sent: number; connections: number; refusedUpgrades: number; closes: Record<string, number>; responses: Record<string, number>; seconds: number }

/** Starts the abusive client (its own process); `started` resolves once it has had time to get going. */
function startAbuse(srv: TestServer, round: number, opts: { ratePerSecond: number }) {
  const room = `abuse-${round}`;
  const child = spawn(process.execPath, [CHILD, JSON.stringify({
    wsUrl: srv.wsUrl, ratePerSecond: opts.ratePerSecond, maxSeconds: 120,
    tokens: { flood: srv.mint(room, 'flooder', 'student'), join: srv.mint(room, 'retrier', 'student'), slow: srv.mint(room, 'slow', 'student') },
  })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const t0 = performance.now();
  const line = new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  return {
    started: sleep(500),
    async stop(): Promise<AbuserCounts> {
      const seconds = (performance.now() - t0) / 1000;
      child.stdin.write('stop\n');
      const [text] = await Promise.all([line, once(child, 'exit')]);
      return { ...(JSON.parse(text) as Omit<AbuserCounts, 'seconds'>), seconds: ms(seconds) };
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  const variant = arg('--variant') ?? 'default';
  if (!(variant in FLOOD_VARIANTS)) throw new Error(`--variant must be one of ${Object.keys(FLOOD_VARIANTS).join(', ')}`);
  const overrides = FLOOD_VARIANTS[variant];
  const result = await floodBench({
    rounds: Number(arg('--rounds') ?? 3), iterations: Number(arg('--iterations') ?? 200), ratePerSecond: 20000, intervalMs: 10,
    ...(overrides ? { overrides } : {}), log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify({ variant, ...result })}\n`);
  process.exit(0);
}
