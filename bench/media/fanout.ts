import { spawn } from 'node:child_process';
import type { types } from 'mediasoup';
import { WorkerPool } from '../../src/media/worker-pool.ts';
import { processCpuSeconds } from '../../src/media/worker-cpu.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { topLayerOf, Vp8SimulcastGenerator, type Camera } from '../lib/rtp-generator.ts';
import { pin } from '../lib/machine.ts';
import { CountingSink, percentile } from './sink.ts';

/**
 * A 720p simulcast camera at 30 fps: 1 / 2 / 5 packets per frame of 600 / 1,000 / 1,150-byte payloads
 * (630 / 1,030 / 1,180 bytes of RTP), about 150 / 500 / 1,420 kbit/s between keyframes; a keyframe
 * (every 2 s, and on PLI/FIR) is a burst of 4 times as many packets, so the top layer averages about
 * 1.5 Mbit/s and 158 packets/s. bench/media/loadgen.c and loadgen.ts send the same.
 */
export const CAMERA: Camera = { fps: 30, packetsPerFrame: [1, 2, 5], payloadBytes: [600, 1000, 1150], keyframeFactor: 4 };
/** Fan-out steps of the full run; the last is where the relay, raw mediasoup and Janus are compared. */
export const FANOUT_STEPS = [16, 64, 128, 256, 384];
const SSRCS = [1001, 1002, 1003];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FanoutResult {
  readonly scenario: 'fanout';
  readonly consumers: number;
  readonly srtp: boolean;
  readonly seconds: number;
  readonly forwardedPps: number;
  readonly usPerPacket: number;
  readonly workerCpuPercent: number;
  readonly loss: number;
  readonly latencyP50Ms?: number;
  readonly latencyP99Ms?: number;
}

/**
 * Fan-out 1 -> N through the server's own media layer (WorkerPool, router): one simulcast producer
 * on a PlainTransport, N PlainTransport consumers of its top layer (with SRTP when `srtp`), all
 * landing on one counting sink. Worker CPU from /proc; the worker pinned to core 0, this process
 * (generator and sink) to core 1.
 */
export async function fanout(opts: {
  consumers: number;
  seconds: number;
  srtp: boolean;
  /** Runs alongside the measurement window (e.g. a profiler attached to the worker). */
  during?: (workerPid: number, seconds: number) => Promise<unknown>;
}): Promise<FanoutResult> {
  const pool = await WorkerPool.create({ size: 1, logLevel: 'error', listenIp: '127.0.0.1', announcedIp: undefined, basePort: 0 }, createLogger('silent'), new Metrics({ defaultMetrics: false }));
  const gen = new Vp8SimulcastGenerator({ ssrcs: SSRCS, payloadType: 101 });
  const sink = new CountingSink();
  try {
    const [workerPid] = pool.pids;
    pin(workerPid!, 0);
    pin(process.pid, 1);
    const { router } = await pool.createRouter();
    const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await inbound.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
        encodings: SSRCS.map((ssrc) => ({ ssrc })),
      },
    });
    const sinkPort = await sink.bind(!opts.srtp);
    const caps: types.RtpCapabilities = { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }], headerExtensions: [] };
    for (let i = 0; i < opts.consumers; i++) {
      const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false, enableSrtp: opts.srtp });
      await t.connect({ ip: '127.0.0.1', port: sinkPort, ...(opts.srtp ? { srtpParameters: t.srtpParameters! } : {}) });
      const c = await t.consume({ producerId: producer.id, rtpCapabilities: caps });
      await c.setPreferredLayers({ spatialLayer: 2, temporalLayer: 0 });
    }
    await gen.bind();
    gen.start({ address: '127.0.0.1', port: inbound.tuple.localPort }, 2000, CAMERA);
    await sleep(2500); // warm-up: keyframes, layer switch, sender reports

    const cpu0 = (await processCpuSeconds(workerPid!)) ?? 0;
    const sent0 = gen.sent[2]!;
    const recv0 = sink.packets;
    sink.latenciesMs.length = 0;
    const t0 = performance.now();
    const during = opts.during?.(workerPid!, opts.seconds);
    await sleep(opts.seconds * 1000);
    const cpu1 = (await processCpuSeconds(workerPid!)) ?? 0;
    await during;
    const elapsed = (performance.now() - t0) / 1000;
    const sent = gen.sent[2]! - sent0;
    gen.stop();
    await sleep(200); // drain packets in flight
    const received = sink.packets - recv0;
    const expected = sent * opts.consumers;
    const forwardedPps = received / elapsed;
    return {
      scenario: 'fanout', consumers: opts.consumers, srtp: opts.srtp, seconds: Math.round(elapsed * 10) / 10,
      forwardedPps: Math.round(forwardedPps),
      usPerPacket: round2(((cpu1 - cpu0) * 1e6) / Math.max(1, received)),
      workerCpuPercent: round2(((cpu1 - cpu0) / elapsed) * 100),
      loss: round4(Math.max(0, 1 - received / Math.max(1, expected))),
      ...(opts.srtp ? {} : { latencyP50Ms: round2(percentile(sink.latenciesMs, 50)), latencyP99Ms: round2(percentile(sink.latenciesMs, 99)) }),
    };
  } finally {
    sink.close();
    await pool.close();
  }
}

/** The plain UDP relay (bench/media/relay.ts) on the worker's core, fed the same top-layer stream. */
export async function relay(opts: { consumers: number; seconds: number }): Promise<{ usPerPacket: number; forwardedPps: number; loss: number }> {
  const sink = new CountingSink();
  const gen = new Vp8SimulcastGenerator({ ssrcs: [SSRCS[2]!], payloadType: 101 });
  const sinkPort = await sink.bind(false);
  const child = spawn(process.execPath, [new URL('./relay.ts', import.meta.url).pathname, String(opts.consumers), String(sinkPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    pin(child.pid!, 0);
    pin(process.pid, 1);
    await gen.bind();
    gen.start({ address: '127.0.0.1', port }, 2000, topLayerOf(CAMERA));
    await sleep(1000);
    const cpu0 = (await processCpuSeconds(child.pid!)) ?? 0;
    const sent0 = gen.sent[0]!;
    const recv0 = sink.packets;
    const t0 = performance.now();
    await sleep(opts.seconds * 1000);
    const cpu1 = (await processCpuSeconds(child.pid!)) ?? 0;
    const elapsed = (performance.now() - t0) / 1000;
    const sent = gen.sent[0]! - sent0;
    gen.stop();
    await sleep(200);
    const received = sink.packets - recv0;
    return {
      usPerPacket: round2(((cpu1 - cpu0) * 1e6) / Math.max(1, received)),
      forwardedPps: Math.round(received / elapsed),
      loss: round4(Math.max(0, 1 - received / Math.max(1, sent * opts.consumers))),
    };
  } finally {
    child.kill('SIGTERM');
    sink.close();
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round4 = (n: number) => Math.round(n * 10000) / 10000;
