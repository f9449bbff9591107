/**
 * Two studies on the fan-out scenario of bench/media/fanout.ts, sharing one harness:
 *
 * - `overheadVsRawMediasoup`: our media layer (WorkerPool and its router, as the server and
 *   fanout.ts create them) against raw mediasoup (bench/media/raw-mediasoup.ts, a separate Node
 *   process importing only mediasoup) with the same worker binary, codecs, producer and consumers.
 *   Runs are interleaved (ours, raw, raw, ours: a linear drift of the machine cancels out) and the
 *   medians compared.
 * - `headerExtensions`: worker CPU per forwarded packet for consumers negotiated with different
 *   RTP header-extension sets (what Chromium's recv transport gets, a lean set, none), with SRTP.
 *
 * Both sides: the worker pinned to core 0, every Node process (this one: generator and sink; the
 * raw script) to core 1; worker CPU from the scheduler's per-thread clock in /proc
 * (bench/lib/thread-cpu.ts) at the window edges.
 */
import { isDeepStrictEqual } from 'node:util';
import mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { WorkerPool } from '../../src/media/worker-pool.ts';
import { MEDIA_CODECS } from '../../src/media/codecs.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { topLayerOf, Vp8SimulcastGenerator } from '../lib/rtp-generator.ts';
import { threadCpuSeconds } from '../lib/thread-cpu.ts';
import { pin } from '../lib/machine.ts';
import { CAMERA } from './fanout.ts';
import { CountingSink } from './sink.ts';
import { spawnRaw } from './raw-child.ts';
import { buildFanout, FANOUT_CAPS, RAW_MEDIA_CODECS, SIMULCAST_SSRCS, type FanoutSpec } from './raw-mediasoup.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round2 = (n: number) => Math.round(n * 100) / 100;
const round4 = (n: number) => Math.round(n * 10000) / 10000;
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const EXT = {
  mid: 'urn:ietf:params:rtp-hdrext:sdes:mid',
  absSendTime: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  transportCc: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  videoOrientation: 'urn:3gpp:video-orientation',
  toffset: 'urn:ietf:params:rtp-hdrext:toffset',
} as const;

/**
 * Video header-extension sets. `chromium`: what a Chromium 156 recv transport ends up with against
 * our router (its offer's extensions that mediasoup can send: mid, abs-send-time, transport-wide-cc,
 * video-orientation, toffset; it offers no abs-capture-time or framemarking). The lean sets keep
 * mid (BUNDLE with mediasoup-client) and video-orientation (portrait phones and tablets) with one
 * bandwidth-estimation extension each; `none` has no estimator at all.
 */
export const HEADER_EXTENSION_SETS: Record<string, readonly string[]> = {
  chromium: [EXT.mid, EXT.absSendTime, EXT.transportCc, EXT.videoOrientation, EXT.toffset],
  'mid+transport-cc+video-orientation': [EXT.mid, EXT.transportCc, EXT.videoOrientation],
  'mid+abs-send-time+video-orientation': [EXT.mid, EXT.absSendTime, EXT.videoOrientation],
  none: [],
};

/** A Chromium-like VP8 receiver negotiating `uris` (ids as mediasoup prefers, so they match the router's). */
export function capsWithExtensions(uris: readonly string[]): types.RtpCapabilities {
  const supported = mediasoup.getSupportedRtpCapabilities().headerExtensions ?? [];
  return {
    codecs: [{
      kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101,
      rtcpFeedback: [{ type: 'goog-remb' }, { type: 'transport-cc' }, { type: 'ccm', parameter: 'fir' }, { type: 'nack' }, { type: 'nack', parameter: 'pli' }],
    }],
    headerExtensions: supported.filter((e) => e.kind === 'video' && uris.includes(e.uri)),
  };
}

interface Target { readonly workerPid: number; readonly port: number; close(): Promise<void> }

async function oursTarget(spec: FanoutSpec): Promise<Target> {
  // As fanout.ts and the server create it: our WorkerPool (its CPU poll, metrics, WebRtcServer).
  const pool = await WorkerPool.create({ size: 1, logLevel: 'error', listenIp: '127.0.0.1', announcedIp: undefined, basePort: 0 }, createLogger('silent'), new Metrics({ defaultMetrics: false }));
  try {
    const { router, workerPid } = await pool.createRouter();
    pin(workerPid, 0);
    const { port } = await buildFanout(router, spec);
    return { workerPid, port, close: () => pool.close() };
  } catch (err) {
    await pool.close();
    throw err;
  }
}

/** Raw mediasoup in its own process; `env` may pick another release (BENCH_MEDIASOUP_MODULE, MEDIASOUP_WORKER_BIN). */
async function rawTarget(spec: FanoutSpec, env?: NodeJS.ProcessEnv): Promise<Target> {
  const child = spawnRaw(spec, env);
  try {
    pin(child.pid, 1);
    const ready = await child.next<{ workerPid: number; port: number; mediaCodecs: unknown }>(30_000);
    if (!isDeepStrictEqual(ready.mediaCodecs, JSON.parse(JSON.stringify(MEDIA_CODECS)))) throw new Error('raw-mediasoup codecs differ from src/media/codecs.ts');
    pin(ready.workerPid, 0);
    return { workerPid: ready.workerPid, port: ready.port, close: () => child.close() };
  } catch (err) {
    await child.close();
    throw err;
  }
}

export interface RunResult {
  readonly setup: 'ours' | 'raw';
  readonly consumers: number;
  readonly srtp: boolean;
  readonly forwardedPps: number;
  readonly usPerPacket: number;
  readonly workerCpuPercent: number;
  readonly loss: number;
  /** mediasoup's bandwidth probation packets per second (not counted as forwarded). */
  readonly probePps: number;
}

/** Re-runs left in the current study (bounds the bench's time on a noisy machine). */
let retriesLeft = 3;

/**
 * One fan-out run; run again once when the sink lost more than 2% (at most three times a study):
 * on this shared machine that is another process holding the sink's core, and it makes the run's
 * us/packet meaningless.
 */
export async function runFanout(setup: 'ours' | 'raw', opts: Parameters<typeof runFanoutOnce>[1]): Promise<RunResult> {
  const first = await runFanoutOnce(setup, opts);
  if (first.loss <= 0.02 || retriesLeft <= 0) return first;
  retriesLeft--;
  return runFanoutOnce(setup, opts);
}

/** One fan-out run: build the target, feed the camera, measure one window. */
async function runFanoutOnce(setup: 'ours' | 'raw', opts: { consumers: number; srtp: boolean; rtpCapabilities: types.RtpCapabilities; warmupMs: number; windowMs: number; single?: boolean; rawEnv?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const camera = opts.single ? topLayerOf(CAMERA) : CAMERA;
  const ssrcs = opts.single ? SIMULCAST_SSRCS.slice(-1) : SIMULCAST_SSRCS;
  const top = ssrcs.length - 1;
  pin(process.pid, 1);
  const sink = new CountingSink();
  const sinkPort = await sink.bind(false);
  const gen = new Vp8SimulcastGenerator({ ssrcs, payloadType: 101 });
  let target: Target | undefined;
  let genOpen = true;
  const stopGen = () => { if (genOpen) { genOpen = false; gen.stop(); } };
  try {
    const spec: FanoutSpec = { consumers: opts.consumers, srtp: opts.srtp, sinkPort, rtpCapabilities: opts.rtpCapabilities, single: opts.single === true };
    target = setup === 'ours' ? await oursTarget(spec) : await rawTarget(spec, opts.rawEnv);
    await gen.bind();
    gen.start({ address: '127.0.0.1', port: target.port }, 2000, camera);
    await sleep(opts.warmupMs); // keyframe on the consumers' PLI, sender reports, layer switch

    const cpu0 = (await threadCpuSeconds(target.workerPid)) ?? 0;
    const sent0 = gen.sent[top]!;
    const recv0 = sink.packets;
    const probes0 = sink.probes;
    const t0 = performance.now();
    await sleep(opts.windowMs);
    const cpu1 = (await threadCpuSeconds(target.workerPid)) ?? 0;
    const elapsed = (performance.now() - t0) / 1000;
    const sent = gen.sent[top]! - sent0;
    stopGen();
    await sleep(150); // drain packets in flight
    const received = sink.packets - recv0;
    return {
      setup, consumers: opts.consumers, srtp: opts.srtp,
      forwardedPps: Math.round(received / elapsed),
      usPerPacket: round2(((cpu1 - cpu0) * 1e6) / Math.max(1, received)),
      workerCpuPercent: round2(((cpu1 - cpu0) / elapsed) * 100),
      loss: round4(Math.max(0, 1 - received / Math.max(1, sent * opts.consumers))),
      probePps: Math.round((sink.probes - probes0) / elapsed),
    };
  } finally {
    stopGen();
    sink.close();
    await target?.close();
  }
}

interface Summary { usPerPacket: number; forwardedPps: number; workerCpuPercent: number; loss: number; runsUsPerPacket: number[] }
const summarise = (runs: RunResult[]): Summary => ({
  usPerPacket: round2(median(runs.map((r) => r.usPerPacket))),
  forwardedPps: Math.round(median(runs.map((r) => r.forwardedPps))),
  workerCpuPercent: round2(median(runs.map((r) => r.workerCpuPercent))),
  loss: round4(median(runs.map((r) => r.loss))),
  runsUsPerPacket: runs.map((r) => r.usPerPacket),
});

/** Ours against raw mediasoup at `consumers` (the top fan-out step), with and without SRTP, interleaved. */
export async function rawMediasoupStudy(quick: boolean, consumers: number, log: (line: string) => void) {
  retriesLeft = 3;
  // Quick: one pair per mode in short windows (the scheduler clock allows them); full: ours, raw, raw, ours.
  const order: ('ours' | 'raw')[] = quick ? ['ours', 'raw'] : ['ours', 'raw', 'raw', 'ours'];
  const timing = quick ? { warmupMs: 400, windowMs: 400 } : { warmupMs: 2500, windowMs: 3500 };
  const out: Record<'srtp' | 'noSrtp', { ours: Summary; raw: Summary }> = {} as never;
  for (const srtp of [true, false]) {
    const runs: RunResult[] = [];
    for (const setup of order) {
      const r = await runFanout(setup, { consumers, srtp, rtpCapabilities: FANOUT_CAPS, ...timing });
      runs.push(r);
      log(`${setup} 1->${consumers} srtp=${srtp}: ${r.forwardedPps} pkt/s, ${r.usPerPacket} us/pkt, worker ${r.workerCpuPercent}% CPU, loss ${r.loss}`);
    }
    out[srtp ? 'srtp' : 'noSrtp'] = { ours: summarise(runs.filter((r) => r.setup === 'ours')), raw: summarise(runs.filter((r) => r.setup === 'raw')) };
  }
  return {
    raw: { consumers, windowSeconds: timing.windowMs / 1000, srtp: out.srtp.raw, noSrtp: out.noSrtp.raw },
    oursInterleaved: { consumers, windowSeconds: timing.windowMs / 1000, srtp: out.srtp.ours, noSrtp: out.noSrtp.ours },
    overheadVsRawMediasoup: ratio(out.srtp.ours.usPerPacket, out.srtp.raw.usPerPacket),
    overheadVsRawMediasoupNoSrtp: ratio(out.noSrtp.ours.usPerPacket, out.noSrtp.raw.usPerPacket),
  };
}

/**
 * The sink sends no transport-cc feedback or REMB (it would have to encrypt SRTCP), so mediasoup's
 * bandwidth estimator, which runs when transport-cc or abs-send-time is negotiated, stays near its
 * 600 kbit/s start and moves simulcast consumers to the lowest layer (setMinOutgoingBitrate does
 * not hold it up in 3.12), which would compare different packet rates. The header-extension study
 * therefore uses the top layer alone (one SSRC, the CAMERA's top layer): simple consumers forward
 * every packet whatever the estimate, while the estimator's per-packet work still runs.
 */
/** Worker us per forwarded packet (SRTP) for each header-extension set, through our media layer. */
export async function headerExtensionStudy(quick: boolean, consumers: number, log: (line: string) => void) {
  retriesLeft = 3;
  const names = Object.keys(HEADER_EXTENSION_SETS);
  const order = quick ? names : [...names, ...[...names].reverse()];
  const timing = quick ? { warmupMs: 300, windowMs: 300 } : { warmupMs: 1000, windowMs: 2500 };
  const runs = new Map<string, RunResult[]>(names.map((n) => [n, []]));
  for (const name of order) {
    const r = await runFanout('ours', { consumers, srtp: true, rtpCapabilities: capsWithExtensions(HEADER_EXTENSION_SETS[name]!), single: true, ...timing });
    runs.get(name)!.push(r);
    log(`header extensions ${name} 1->${consumers} srtp: ${r.forwardedPps} pkt/s, ${r.usPerPacket} us/pkt, worker ${r.workerCpuPercent}% CPU, loss ${r.loss}, probes ${r.probePps}/s`);
  }
  const sets = names.map((name) => ({
    name,
    uris: HEADER_EXTENSION_SETS[name]!,
    ...summarise(runs.get(name)!),
    probePps: Math.round(median(runs.get(name)!.map((r) => r.probePps))),
  }));
  const base = sets.find((s) => s.name === 'chromium')!.usPerPacket;
  return {
    consumers, srtp: true, windowSeconds: timing.windowMs / 1000,
    sets: sets.map((s) => ({ ...s, relativeToChromium: ratio(s.usPerPacket, base) })),
    note: 'mediasoup 3.12 writes the same header extensions into every forwarded packet; a consumer\'s set only picks the downlink bandwidth estimator '
      + '(transport-cc: per-packet work; abs-send-time alone: REMB, which left Chromium 156\'s estimate frozen at its start value; none: no estimate). '
      + 'Defaults unchanged: see bench/README.md.',
  };
}

/** Guard for the copy in raw-mediasoup.ts. */
export const rawCodecsMatch = () => isDeepStrictEqual(JSON.parse(JSON.stringify(RAW_MEDIA_CODECS)), JSON.parse(JSON.stringify(MEDIA_CODECS)));
