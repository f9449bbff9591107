/**
 * npm run bench:quick  (under a minute: the harness works, the numbers are sane)
 * npm run bench        (the standard set, at most 10 minutes here)
 * Runs the benches in BENCHES in order; each prints one JSON result line and writes
 * bench/results/<name>-[quick-]<date>.json. Loopback only; every loop is bounded and stops by itself.
 * `--only a,b` runs a subset (for development).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machineFacts } from './lib/machine.ts';
import { writeReport } from './report.ts';
import { mediaBench } from './media/index.ts';
import { janusBench } from './media/janus.ts';
import { joinBench, stormBench } from './signalling/joins.ts';
import { panicBench, storeHungBench } from './panic/latency.ts';
import { floodBench } from './signalling/flood.ts';
import { httpBench } from './http/endpoints.ts';
import { realismBench } from './realism/chromium.ts';
import { e2eeCostBench } from './realism/e2ee-cost.ts';
import { networkBench } from './network/index.ts';
import { runFuzz } from './fuzz/run.ts';
import { versionsBench } from './media/versions.ts';
import { leanStudy, ON_REALISTIC, REALISTIC } from './media/lean.ts';
import { clusterBench } from './cluster/index.ts';

type Log = (line: string) => void;
/** `optional`: not in the standard set; runs only when named with --only (e.g. `--only fuzz`). */
interface Bench { readonly name: string; readonly optional?: boolean; run(quick: boolean, log: Log): Promise<object> }

/** The bell-time storm (part of `signalling`; alone: `--only storm`): 2,000 joins at 100/s on SQLite, then PostgreSQL. Quick: 100 on SQLite. */
const STORM = (quick: boolean, log: Log) => ({ joins: quick ? 100 : 2000, ratePerSecond: 100, roomSize: 2, postgres: !quick, log });
/** The panic bench's "store hung" line (alone: `--only store-hung`): 100 raises per transport while PostgreSQL is SIGSTOPped. */
const STORE_HUNG = { raises: 100, intervalMs: 50 };

/** The standard set, in run order. */
const BENCHES: Bench[] = [
  { name: 'media', run: mediaBench },
  { name: 'janus', run: async (quick, log) => ({ machine: machineFacts(), ...(await janusBench(quick, log)) }) },
  {
    name: 'signalling',
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await joinBench({ ratePerSecond: quick ? 20 : 50, seconds: quick ? 2 : 10, roomSize: 2 })),
      bellTimeStorm: await stormBench(STORM(quick, log)),
    }),
  },
  {
    name: 'panic',
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await panicBench({
        raises: quick ? 10 : 100,
        intervalMs: quick ? 20 : 50,
        // Quick: a small load, measured once (no calibration to 80%).
        load: quick
          ? { raises: 5, initialConsumers: 64, targetPercent: 80, maxConsumers: 64, calibrationSteps: 1, stepMs: 500 }
          : { raises: 100, initialConsumers: 1000, targetPercent: 90, maxConsumers: 3000, calibrationSteps: 5, stepMs: 1000 },
        log,
      })),
      storeHung: quick ? { skipped: 'quick run: the PostgreSQL store-hung line runs in the full bench only' } : await storeHungBench(STORE_HUNG),
    }),
  },
  {
    name: 'flood',
    // The normal client's join and panic p99 next to an abusive client, idle against flood, 3 rounds.
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await floodBench({ rounds: quick ? 1 : 3, iterations: quick ? 10 : 200, ratePerSecond: 20000, intervalMs: quick ? 0 : 10, log })),
    }),
  },
  {
    name: 'http',
    run: async (quick) => ({ machine: machineFacts(), ...(await httpBench({ consumers: quick ? 100 : 1000, secondsPerEndpoint: quick ? 1 : 5, connections: 10 })) }),
  },
  {
    name: 'realism',
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(quick
        ? { skipped: 'quick run: the Chromium realism check runs in the full bench only' }
        : await realismBench({ seconds: 10, baselineSeconds: 5, targetPercent: 85, initialConsumers: 1200, maxConsumers: 3000, log })),
      // The client CPU cost of end-to-end encryption and the server's per-packet cost with and without it (issue #16).
      // One round here (about a minute, to keep the full run near its 10 minutes); `--only e2ee` runs two.
      e2ee: quick ? { skipped: 'quick run: the E2EE cost runs in the full bench only' } : await e2eeCostBench({ seconds: 15, rounds: 1, log }),
    }),
  },
  // The E2EE cost alone (also part of `realism`): two Chromium pages, E2EE off and required, alternating.
  { name: 'e2ee', optional: true, run: async (quick, log) => ({ machine: machineFacts(), ...(await e2eeCostBench({ seconds: quick ? 4 : 20, rounds: quick ? 1 : 2, log })) }) },
  // The two store benches of issue #12 on their own (each also runs inside `signalling` and `panic`).
  { name: 'storm', optional: true, run: async (quick, log) => ({ machine: machineFacts(), ...(await stormBench(STORM(quick, log))) }) },
  { name: 'store-hung', optional: true, run: async () => ({ machine: machineFacts(), ...(await storeHungBench(STORE_HUNG)) }) },
  {
    // mediasoup 3.12.16 against the project's release (issue #18), interleaved rounds (bench/media/versions.ts).
    name: 'versions',
    optional: true,
    run: async (quick, log) => ({ machine: machineFacts(), ...(await versionsBench(quick, log)) }),
  },
  {
    // Lean defaults for a 1:1 session (issue #18), each against the same baseline at 120 sessions, then
    // further ones on top of the realistic model at 160 (bench/media/lean.ts).
    name: 'lean',
    optional: true,
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await leanStudy({ quick, size: quick ? 4 : 120, log })),
      onRealistic: await leanStudy({ quick, size: quick ? 4 : 160, log, base: REALISTIC, variants: ON_REALISTIC }),
    }),
  },
  {
    // Three nodes + Redis + PostgreSQL on this box (issue #13, bench/cluster/index.ts): placement of 1,000
    // rooms (and 300 through one node), cross-node alarm latency, re-placement after a node kill. Quick: 30 rooms, 10 alarms, 12 rooms.
    name: 'cluster',
    optional: true,
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await clusterBench(quick
        ? { rooms: 30, oneEntryRooms: 15, concurrency: 10, alarms: 10, alarmIntervalMs: 50, raisers: 3, replace: 12, log }
        : { rooms: 1000, oneEntryRooms: 300, concurrency: 20, alarms: 100, alarmIntervalMs: 100, raisers: 5, replace: 100, log })),
    }),
  },
  {
    // Poor links (issue #14, bench/network/index.ts): a Chromium call with the student's page behind
    // 300 kbit/s, then 5 % loss + 150 ms RTT; needs root (a network namespace). Quick: one short run.
    name: 'network',
    optional: true,
    run: async (quick, log) => ({
      machine: machineFacts(),
      ...(await networkBench({
        ...(quick
          ? { repetitions: 1, warmUpSeconds: 3, beforeSeconds: 4, impairedSeconds: 8, afterSeconds: 10 }
          : { repetitions: 3, warmUpSeconds: 10, beforeSeconds: 10, impairedSeconds: 40, afterSeconds: 40 }),
        // `--scenarios a,b` and `--repetitions N` narrow a run (bench/network/index.ts SCENARIOS).
        ...(argValue('--scenarios') ? { only: argValue('--scenarios')!.split(',') } : {}),
        ...(argValue('--repetitions') ? { repetitions: Number(argValue('--repetitions')) } : {}),
        log,
      })),
    }),
  },
  {
    // The signalling fuzz run (bench/fuzz/run.ts): 100,000 messages (quick: 5,000), on request only.
    name: 'fuzz',
    optional: true,
    run: async (quick, log) => ({ machine: machineFacts(), ...(await runFuzz({ messages: quick ? 5000 : 100_000, seconds: quick ? 60 : 900, log })) }),
  },
];

const quick = process.argv.includes('--quick');
function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1]?.split(',')) : undefined;
const date = new Date().toISOString();
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const log: Log = (line) => process.stderr.write(`${line}\n`);

for (const bench of BENCHES) {
  if (only ? !only.has(bench.name) : bench.optional) continue;
  const started = performance.now();
  const result = { bench: bench.name, quick, date, ...(await bench.run(quick, log)) };
  log(`${bench.name}: ${Math.round((performance.now() - started) / 1000)} s`);
  writeFileSync(`${dir}${bench.name}-${quick ? 'quick-' : ''}${date.slice(0, 10)}.json`, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
// The markdown summary and SVG plots of this day's results (bench/results/summary-[quick-]<date>.md).
for (const f of writeReport({ dir, day: date.slice(0, 10), quick })) log(`wrote bench/results/${f}`);
