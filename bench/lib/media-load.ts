import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { types } from 'mediasoup';
import type { WorkerPool } from '../../src/media/worker-pool.ts';
import { threadCpuSeconds } from './thread-cpu.ts';
import { pin } from './machine.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;
const SSRCS = [1001, 1002, 1003];
const CAPS: types.RtpCapabilities = {
  codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
  headerExtensions: [],
};

export interface MediaLoadFigures {
  /** Worker CPU (/proc) over the window, percent of one core. */
  readonly workerCpuPercent: number;
  readonly consumers: number;
  /** Packets the worker sent to the consumers per second (one consumer's count times their number). */
  readonly forwardedPps: number;
  readonly seconds: number;
}

interface Child { proc: ChildProcessByStdio<Writable, Readable, null>; lines: AsyncIterator<string> }

function startChild(role: 'generator' | 'sink', maxSeconds: number): Child {
  const proc = spawn(process.execPath, [new URL('./load-child.ts', import.meta.url).pathname, role, String(maxSeconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  pin(proc.pid!, 1);
  proc.stdin.on('error', () => undefined); // EPIPE once it has exited by itself
  return { proc, lines: createInterface({ input: proc.stdout })[Symbol.asyncIterator]() };
}

async function firstLine<T>(c: Child): Promise<T> {
  const next = await c.lines.next();
  if (next.done) throw new Error('media load child exited early');
  return JSON.parse(next.value) as T;
}

/**
 * Keeps a mediasoup worker busy the way the media bench does: a PlainTransport producer with a
 * 720p VP8 simulcast camera (bench/lib/rtp-generator.ts) fanned out to SRTP PlainTransport
 * consumers of its top layer. The generator and the sink are child processes
 * (bench/lib/load-child.ts) pinned to core 1, the worker to core 0; the sink reads nothing, so
 * the load costs the server's core only what the server would pay. Works on any pool: the
 * server's own (startServer's handle.pool) puts the load on the worker that carries real rooms.
 * `calibrate` adds consumers until the worker uses `targetPercent` of its core.
 */
export class MediaLoad {
  readonly #router: types.Router;
  readonly #workerPid: number;
  readonly #generator: Child;
  readonly #sink: Child;
  readonly #sinkPort: number;
  readonly #producer: types.Producer;
  readonly #consumers: types.Consumer[] = [];
  #window: { cpu: number; at: number; packets: number } | undefined;

  private constructor(router: types.Router, workerPid: number, generator: Child, sink: Child, sinkPort: number, producer: types.Producer) {
    this.#router = router;
    this.#workerPid = workerPid;
    this.#generator = generator;
    this.#sink = sink;
    this.#sinkPort = sinkPort;
    this.#producer = producer;
  }

  /** Creates the producer on a new router of `pool` (its only worker when the pool has one). */
  static async start(pool: WorkerPool, opts: { maxSeconds: number }): Promise<MediaLoad> {
    const { router, workerPid } = await pool.createRouter();
    pin(workerPid, 0);
    pin(process.pid, 1);
    const generator = startChild('generator', opts.maxSeconds);
    const sink = startChild('sink', opts.maxSeconds);
    try {
      const [, { sinkPort }] = await Promise.all([firstLine(generator), firstLine<{ sinkPort: number }>(sink)]);
      const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
      const producer = await inbound.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
          encodings: SSRCS.map((ssrc) => ({ ssrc })),
        },
      });
      generator.proc.stdin.write(`${JSON.stringify({ cmd: 'start', port: inbound.tuple.localPort })}\n`);
      return new MediaLoad(router, workerPid, generator, sink, sinkPort, producer);
    } catch (err) {
      generator.proc.kill('SIGKILL');
      sink.proc.kill('SIGKILL');
      router.close();
      throw err;
    }
  }

  get workerPid(): number { return this.#workerPid; }
  get consumers(): number { return this.#consumers.length; }

  /** Adds `n` SRTP consumers of the top layer, each on its own PlainTransport to the sink. */
  async addConsumers(n: number, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    for (let i = 0; i < n && performance.now() < deadline; i++) {
      const t = await this.#router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false, enableSrtp: true });
      await t.connect({ ip: '127.0.0.1', port: this.#sinkPort, srtpParameters: t.srtpParameters! });
      const c = await t.consume({ producerId: this.#producer.id, rtpCapabilities: CAPS });
      await c.setPreferredLayers({ spatialLayer: 2, temporalLayer: 0 });
      this.#consumers.push(c);
    }
  }

  /**
   * Adds consumers (from `initial`, in steps sized by the CPU measured over `stepMs`) until the
   * worker uses at least `targetPercent` of its core, `maxConsumers` is reached, `maxSteps`
   * windows were measured or `budgetMs` has passed (a saturated worker answers requests late, so
   * steps grow by at most half). Returns the last window's CPU percent.
   */
  async calibrate(opts: { initial: number; targetPercent: number; maxConsumers: number; stepMs: number; maxSteps: number; budgetMs: number; log?: (line: string) => void }): Promise<number> {
    const deadline = performance.now() + opts.budgetMs;
    await this.addConsumers(Math.max(0, opts.initial - this.consumers), deadline);
    await sleep(1500); // keyframe, layer switch, sender reports
    let cpu = 0;
    for (let step = 0; step < opts.maxSteps; step++) {
      await this.beginWindow();
      await sleep(opts.stepMs);
      cpu = (await this.endWindow()).workerCpuPercent;
      opts.log?.(`media load: ${this.consumers} consumers, worker ${cpu}% CPU`);
      if (cpu >= opts.targetPercent || this.consumers >= opts.maxConsumers || step === opts.maxSteps - 1 || performance.now() > deadline) break;
      // Aim 4% above the target: CPU per consumer is about linear in this range (a little more
      // than linear near saturation, so no more margin).
      const want = Math.ceil((this.consumers * (opts.targetPercent * 1.04)) / Math.max(cpu, 5));
      const next = Math.min(opts.maxConsumers, Math.ceil(this.consumers * 1.5), Math.max(want, this.consumers + 4));
      await this.addConsumers(next - this.consumers, deadline);
      await sleep(500);
    }
    return cpu;
  }

  async #packetsSent(): Promise<number> {
    const probe = this.#consumers[0];
    if (!probe) return 0;
    const stats = await probe.getStats();
    return stats.find((s) => s.type === 'outbound-rtp')?.packetCount ?? 0;
  }

  /** Starts a measurement window (worker CPU from /proc, packets sent). */
  async beginWindow(): Promise<void> {
    const [cpu, packets] = await Promise.all([threadCpuSeconds(this.#workerPid), this.#packetsSent()]);
    this.#window = { cpu: cpu ?? 0, at: performance.now(), packets };
  }

  async endWindow(): Promise<MediaLoadFigures> {
    const w = this.#window;
    if (!w) throw new Error('endWindow without beginWindow');
    this.#window = undefined;
    const [cpu, packets] = await Promise.all([threadCpuSeconds(this.#workerPid), this.#packetsSent()]);
    const elapsed = (performance.now() - w.at) / 1000;
    return {
      workerCpuPercent: round1((((cpu ?? 0) - w.cpu) / elapsed) * 100),
      consumers: this.consumers,
      forwardedPps: Math.round(((packets - w.packets) * this.consumers) / elapsed),
      seconds: round1(elapsed),
    };
  }

  /** Stops the generator and the sink, closes the load's router (its transports with it). */
  async stop(): Promise<void> {
    const exited = new Promise((r) => (this.#generator.proc.exitCode === null ? this.#generator.proc.once('exit', r) : r(undefined)));
    this.#generator.proc.stdin.write(`${JSON.stringify({ cmd: 'stop' })}\n`);
    const timer = setTimeout(() => this.#generator.proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    this.#sink.proc.kill('SIGKILL');
    this.#router.close();
  }
}
