import mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { MEDIA_CODECS } from './codecs.ts';
import { processCpuSeconds } from './worker-cpu.ts';

export interface WorkerPoolOptions {
  readonly size: number;
  readonly logLevel: types.WorkerLogLevel;
  readonly listenIp: string;
  readonly announcedIp: string | undefined;
  /** Port of worker 0's WebRtcServer; worker i uses basePort + i. 0 lets the OS pick (tests). */
  readonly basePort: number;
  readonly cpuPollMs?: number;
}

/** One slot of the pool: a worker, its WebRtcServer and how many routers it carries. */
export interface WorkerSlot {
  readonly index: number;
  readonly worker: types.Worker;
  readonly webRtcServer: types.WebRtcServer;
  routers: number;
  cpuSeconds: number;
  /** When cpuSeconds was last read (performance.now()); undefined before the first poll. */
  polledAt?: number;
  /** Share of one core the worker used between its last two polls (0..1). */
  cpuShare: number;
}

/** Router placed on a worker, with the WebRtcServer its transports must use. */
export interface PlacedRouter {
  readonly router: types.Router;
  readonly webRtcServer: types.WebRtcServer;
  readonly workerPid: number;
}

/**
 * mediasoup workers, one WebRtcServer each, so a node needs one UDP+TCP port per worker.
 * Routers go to the worker carrying the fewest. A worker that dies is replaced in its slot; its
 * routers close themselves, and their rooms hear it through the router's `workerclose`.
 */
export class WorkerPool {
  readonly #opts: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #slots: (WorkerSlot | undefined)[] = [];
  #cpuTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #killedAtClose = 0;

  private constructor(opts: WorkerPoolOptions, log: Logger, metrics: Metrics) {
    this.#opts = opts;
    this.#log = log;
    this.#metrics = metrics;
  }

  static async create(opts: WorkerPoolOptions, log: Logger, metrics: Metrics): Promise<WorkerPool> {
    const pool = new WorkerPool(opts, log, metrics);
    metrics.mediasoupLoaded(mediasoup.version);
    metrics.workerSlots(opts.size);
    try {
      for (let i = 0; i < opts.size; i++) pool.#slots.push(await pool.#startSlot(i));
    } catch (err) {
      await pool.close();
      throw err;
    }
    pool.#cpuTimer = setInterval(() => void pool.#pollCpu(), opts.cpuPollMs ?? 5000).unref();
    return pool;
  }

  /** Live workers' pids, in slot order. */
  get pids(): number[] {
    return this.#slots.flatMap((s) => (s ? [s.worker.pid] : []));
  }

  /** True when every slot has a live worker. */
  get healthy(): boolean {
    return !this.#closed && this.#slots.length === this.#opts.size && this.#slots.every((s) => s && !s.worker.closed);
  }

  /** Live workers. */
  get size(): number {
    return this.#slots.filter((s) => s !== undefined && !s.worker.closed).length;
  }

  /** The live workers' mean CPU share (0..1, each worker one core) between their last two polls (every cpuPollMs). */
  get cpuLoad(): number {
    const live = this.#slots.filter((s): s is WorkerSlot => s !== undefined && !s.worker.closed);
    return live.length === 0 ? 0 : live.reduce((sum, s) => sum + s.cpuShare, 0) / live.length;
  }

  /** Creates a router on the least-loaded live worker. */
  async createRouter(): Promise<PlacedRouter> {
    const live = this.#slots.filter((s): s is WorkerSlot => s !== undefined && !s.worker.closed);
    if (this.#closed || live.length === 0) throw new Error('no live mediasoup worker');
    const slot = live.reduce((a, b) => (b.routers < a.routers ? b : a));
    slot.routers++;
    try {
      const router = await slot.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
      router.observer.once('close', () => { slot.routers--; });
      return { router, webRtcServer: slot.webRtcServer, workerPid: slot.worker.pid };
    } catch (err) {
      slot.routers--;
      throw err;
    }
  }

  async #startSlot(index: number): Promise<WorkerSlot> {
    const worker = await createWorkerWithoutSignalHandlers(this.#opts.logLevel);
    const port = this.#opts.basePort === 0 ? undefined : this.#opts.basePort + index;
    const base = { ip: this.#opts.listenIp, ...(this.#opts.announcedIp ? { announcedAddress: this.#opts.announcedIp } : {}) };
    let webRtcServer: types.WebRtcServer;
    try {
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ...base, ...(port ? { port } : {}) },
          { protocol: 'tcp', ...base, ...(port ? { port } : {}) },
        ],
      });
    } catch (err) {
      worker.close();
      throw new Error(`cannot listen on RTC port ${port ?? '(any)'} for worker ${index}: ${(err as Error).message}`);
    }
    const slot: WorkerSlot = { index, worker, webRtcServer, routers: 0, cpuSeconds: 0, cpuShare: 0 };
    worker.on('died', (error) => this.#onDied(slot, error));
    this.#metrics.workerStarted();
    this.#log.info({ worker: index, pid: worker.pid, port }, 'mediasoup worker started');
    return slot;
  }

  #onDied(slot: WorkerSlot, error: Error): void {
    this.#metrics.workerStopped();
    this.#metrics.workerDied();
    this.#log.error({ worker: slot.index, pid: slot.worker.pid, err: error }, 'mediasoup worker died');
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = undefined;
    if (this.#closed) return;
    void this.#replace(slot.index, 0);
  }

  async #replace(index: number, attempt: number): Promise<void> {
    try {
      const slot = await this.#startSlot(index);
      if (this.#closed) { slot.worker.close(); return; }
      this.#slots[index] = slot;
      this.#log.info({ worker: index, pid: slot.worker.pid }, 'mediasoup worker replaced');
    } catch (err) {
      // The dead worker's port can take a moment to be released: retry with backoff.
      const delay = Math.min(5000, 100 * 2 ** attempt);
      this.#log.error({ worker: index, err, retryInMs: delay }, 'cannot replace mediasoup worker');
      if (!this.#closed) setTimeout(() => void this.#replace(index, attempt + 1), delay).unref();
    }
  }

  async #pollCpu(): Promise<void> {
    for (const slot of this.#slots) {
      if (!slot || slot.worker.closed) continue;
      const now = await processCpuSeconds(slot.worker.pid);
      if (now === undefined) continue;
      const at = performance.now();
      if (slot.polledAt !== undefined && at > slot.polledAt) slot.cpuShare = Math.max(0, Math.min(1, (now - slot.cpuSeconds) / ((at - slot.polledAt) / 1000)));
      slot.polledAt = at;
      this.#metrics.workerCpuUsed(now - slot.cpuSeconds);
      slot.cpuSeconds = now;
    }
  }

  /**
   * Closes every worker and waits for their processes to exit; a worker still running after
   * `exitTimeoutMs` (hung, or stopped) is killed with SIGKILL (counted in `killedAtClose`).
   */
  async close(exitTimeoutMs = 3000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#cpuTimer);
    const exits: Promise<boolean>[] = [];
    for (const slot of this.#slots) {
      if (!slot || slot.worker.closed) continue;
      const { pid } = slot.worker;
      exits.push(waitForExit(pid, exitTimeoutMs).then((exited) => {
        if (exited) return true;
        this.#log.warn({ worker: slot.index, pid, waitedMs: exitTimeoutMs }, 'mediasoup worker did not exit in time: killed');
        return false;
      }));
      slot.worker.close();
      this.#metrics.workerStopped();
    }
    this.#slots.length = 0;
    this.#killedAtClose = (await Promise.all(exits)).filter((exited) => !exited).length;
  }

  /** Workers that `close()` had to kill because they did not exit in time. */
  get killedAtClose(): number {
    return this.#killedAtClose;
  }
}

/**
 * mediasoup >= 3.19 closes every worker as soon as this process gets SIGINT or SIGTERM (its Worker
 * constructor adds process.once listeners). That would cut all media at the first SIGTERM, before
 * the drain (src/main.ts, src/shutdown.ts) has even told the clients, and leave a hung (stopped)
 * worker behind unkilled (its closed slot is skipped by close()). The pool closes its workers itself,
 * at the drain's workers stage: remove the listeners mediasoup added. The constructor runs
 * synchronously inside createWorker(), so the listeners new since the call are mediasoup's.
 */
async function createWorkerWithoutSignalHandlers(logLevel: types.WorkerLogLevel): Promise<types.Worker> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((sig) => [sig, new Set(process.listeners(sig))]));
  const pending = mediasoup.createWorker({ logLevel });
  for (const sig of signals) {
    for (const listener of process.listeners(sig)) if (!before.get(sig)!.has(listener)) process.removeListener(sig, listener);
  }
  return pending;
}

/**
 * worker.close() returns before the process exits; poll until it is gone. After `timeoutMs` the
 * process is killed with SIGKILL (which also ends a stopped process) and false is returned.
 */
async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return true; // it exited just now
  }
  return false;
}
