/**
 * The mediasoup upgrade measured (issue #18): mediasoup 3.12.16 (the release before the upgrade)
 * against the project's release, same machine, same run. Both sides are raw mediasoup
 * (bench/media/raw-mediasoup.ts in its own process, each release's node library with its own
 * worker binary), so the difference is mediasoup's, not ours. Two patterns:
 * - fan-out: one 720p simulcast camera to 384 SRTP consumers of its top layer (the media bench's top step);
 * - sessions: N 1:1 sessions (clinician and student both publish 3-layer VP8 simulcast and Opus,
 *   dynacast layers from the server's viewport rule, SRTP to each subscriber), the C load tool.
 * Each round measures the plain UDP relay reference first, then both releases on both patterns;
 * the order of the releases alternates per round (A B / B A), so a linear drift cancels out.
 * Reported per release: worker us per forwarded packet and `efficiency` = relay us / worker us (the
 * media bench's measure, comparable across days); per round: `speedup` = 3.12 us / new us (> 1:
 * the new release is cheaper); medians with min and max over the rounds.
 *
 * The 3.12.16 worker is not built by the set-up any more: it is taken from
 * BENCH_MEDIASOUP_OLD_WORKER or from the worker cache (~/.cache/telepractice-sfu/mediasoup-worker/
 * 3.12.16-*, what set-up built before the upgrade: `git checkout a5b14e9 && npm run setup` makes it);
 * without it the bench reports `skipped` with that reason. Its node library is installed from the npm
 * registry into ~/.cache/telepractice-sfu/bench/mediasoup-3.12.16 (--ignore-scripts: no download).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import mediasoup from 'mediasoup';
import { spatialLayerFor } from '../../src/room/viewport.ts';
import { pin } from '../lib/machine.ts';
import { FANOUT_STEPS, relay } from './fanout.ts';
import { startLoadGen, type LoadConsumer, type LoadSender } from './loadgen.ts';
import { runFanout } from './overhead.ts';
import { FANOUT_CAPS, type SessionsSpec } from './raw-mediasoup.ts';
import { spawnRaw } from './raw-child.ts';
import { LAYOUT } from './sessions.ts';

export const OLD_RELEASE = '3.12.16';
const CACHE = join(homedir(), '.cache', 'telepractice-sfu');

interface Release { readonly version: string; readonly env: NodeJS.ProcessEnv }
interface Run { readonly round: number; readonly release: string; readonly pattern: 'fanout' | 'sessions'; readonly usPerPacket: number; readonly forwardedPps: number; readonly workerCpuPercent: number; readonly loss: number }

const round2 = (n: number) => Math.round(n * 100) / 100;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const round4 = (n: number) => Math.round(n * 10000) / 10000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: number[]) => ({ median: round3(median(xs)), min: round3(Math.min(...xs)), max: round3(Math.max(...xs)), runs: xs.map(round3) });

/** The 3.12.16 release: its worker from the cache (or BENCH_MEDIASOUP_OLD_WORKER) and its node library from the registry. */
function oldRelease(log: (line: string) => void): Release | { skipped: string } {
  let worker = process.env.BENCH_MEDIASOUP_OLD_WORKER;
  if (!worker) {
    const dir = join(CACHE, 'mediasoup-worker');
    const entry = existsSync(dir) ? readdirSync(dir).find((d) => d.startsWith(`${OLD_RELEASE}-`) && existsSync(join(dir, d, 'mediasoup-worker'))) : undefined;
    if (entry) worker = join(dir, entry, 'mediasoup-worker');
  }
  if (!worker || !existsSync(worker)) {
    return { skipped: `no mediasoup ${OLD_RELEASE} worker: set BENCH_MEDIASOUP_OLD_WORKER, or build it with the set-up from before the upgrade (git checkout a5b14e9 && npm run setup)` };
  }
  const lib = join(CACHE, 'bench', `mediasoup-${OLD_RELEASE}`);
  const entry = join(lib, 'node_modules', 'mediasoup', 'node', 'lib', 'index.js');
  if (!existsSync(entry)) {
    log(`installing mediasoup ${OLD_RELEASE}'s node library into ${lib} (npm, --ignore-scripts: the worker comes from the cache)`);
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'package.json'), '{ "private": true }\n');
    const npm = join(dirname(process.execPath), 'npm');
    const r = spawnSync(existsSync(npm) ? npm : 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', `mediasoup@${OLD_RELEASE}`], { cwd: lib, encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(entry)) return { skipped: `npm install mediasoup@${OLD_RELEASE} failed: ${(r.stderr || r.error?.message || '').slice(0, 300)}` };
  }
  return { version: OLD_RELEASE, env: { BENCH_MEDIASOUP_MODULE: entry, MEDIASOUP_WORKER_BIN: worker } };
}

/** N 1:1 sessions on raw mediasoup of `release`, fed and counted by the C load tool on core 1. */
async function sessionsRun(release: Release, count: number, timing: { warmupMs: number; windowMs: number }) {
  pin(process.pid, 1);
  const gen = await startLoadGen();
  if (gen.tool === 'c') pin(gen.pid, 1);
  const child = spawnRaw({
    sessions: {
      count,
      sinkPorts: await gen.sinkPorts(2 * count),
      layers: { clinicianSeesStudent: spatialLayerFor(LAYOUT.clinicianSeesStudent1to1, 2), studentSeesClinician: spatialLayerFor(LAYOUT.studentSeesClinician, 2) },
      srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
    } satisfies SessionsSpec,
  }, release.env);
  try {
    pin(child.pid, 1);
    const built = await child.next<{ workerPid: number; mediasoup: string; senders: LoadSender[]; consumers: LoadConsumer[] }>(120_000);
    if (built.mediasoup !== release.version) throw new Error(`raw-mediasoup runs ${built.mediasoup}, expected ${release.version}`);
    pin(built.workerPid, 0);
    const ready = child.next(timing.warmupMs + 5000).then(() => undefined, () => undefined);
    const r = await gen.run({ workerPid: built.workerPid, ...timing, senders: built.senders, consumers: built.consumers }, ready);
    const received = r.receivedVideo + r.receivedAudio;
    return {
      usPerPacket: round2((r.workerCpuS * 1e6) / Math.max(1, received)),
      forwardedPps: Math.round(received / r.windowS),
      workerCpuPercent: round2((r.workerCpuS / r.windowS) * 100),
      loss: round4(Math.max(0, 1 - received / Math.max(1, r.expectedVideo + r.expectedAudio))),
    };
  } finally {
    gen.close();
    await child.close();
  }
}

export async function versionsBench(quick: boolean, log: (line: string) => void) {
  const old = oldRelease(log);
  if ('skipped' in old) {
    log(`versions: skipped: ${old.skipped}`);
    return { skipped: old.skipped };
  }
  const current: Release = { version: mediasoup.version, env: {} };
  const rounds = quick ? 1 : 4;
  const fanoutConsumers = quick ? 64 : FANOUT_STEPS.at(-1)!;
  const sessions = quick ? 4 : 200;
  const fanoutTiming = quick ? { warmupMs: 1500, windowMs: 1000 } : { warmupMs: 2500, windowMs: 3500 };
  const sessionTiming = quick ? { warmupMs: 3000, windowMs: 1000 } : { warmupMs: 6000, windowMs: 4000 };
  const runs: Run[] = [];
  const relays: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const ref = await relay({ consumers: fanoutConsumers, seconds: quick ? 1 : 3 });
    relays.push(ref.usPerPacket);
    log(`versions round ${round + 1}: relay 1->${fanoutConsumers} ${ref.usPerPacket} us/pkt`);
    const order = round % 2 === 0 ? [old, current] : [current, old];
    for (const pattern of ['fanout', 'sessions'] as const) {
      for (const release of order) {
        const r = pattern === 'fanout'
          ? await runFanout('raw', { consumers: fanoutConsumers, srtp: true, rtpCapabilities: FANOUT_CAPS, ...fanoutTiming, rawEnv: release.env })
          : await sessionsRun(release, sessions, sessionTiming);
        const run: Run = { round: round + 1, release: release.version, pattern, usPerPacket: r.usPerPacket, forwardedPps: r.forwardedPps, workerCpuPercent: r.workerCpuPercent, loss: r.loss };
        runs.push(run);
        log(`versions round ${round + 1}: ${release.version} ${pattern}: ${run.forwardedPps} pkt/s, ${run.usPerPacket} us/pkt, worker ${run.workerCpuPercent}%, loss ${run.loss}`);
      }
    }
  }
  const pick = (release: string, pattern: Run['pattern']) => runs.filter((r) => r.release === release && r.pattern === pattern);
  const patternSummary = (pattern: Run['pattern']) => {
    const per = (release: string) => {
      const rs = pick(release, pattern);
      return {
        usPerPacket: spread(rs.map((r) => r.usPerPacket)),
        efficiency: spread(rs.map((r) => relays[r.round - 1]! / r.usPerPacket)),
        workerCpuPercent: round2(median(rs.map((r) => r.workerCpuPercent))),
        forwardedPps: Math.round(median(rs.map((r) => r.forwardedPps))),
        loss: round4(median(rs.map((r) => r.loss))),
      };
    };
    const olds = pick(OLD_RELEASE, pattern);
    const news = pick(current.version, pattern);
    return {
      [OLD_RELEASE]: per(OLD_RELEASE),
      [current.version]: per(current.version),
      /** Per round: 3.12 us / new us (> 1: the new release forwards a packet for less CPU). */
      speedup: spread(olds.map((o, i) => o.usPerPacket / news[i]!.usPerPacket)),
    };
  };
  return {
    releases: [OLD_RELEASE, current.version],
    rounds,
    relayUsPerPacket: spread(relays),
    fanout: { consumers: fanoutConsumers, srtp: true, windowSeconds: fanoutTiming.windowMs / 1000, ...patternSummary('fanout') },
    sessions: { count: sessions, windowSeconds: sessionTiming.windowMs / 1000, ...patternSummary('sessions') },
    runs,
  };
}
