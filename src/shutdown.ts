import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './telemetry/logger.ts';

/**
 * Deadlines of the close stages (after the drain's wait), in milliseconds. `workers` and `store`
 * run side by side. docs/operations.md#graceful-drain-sigterm describes them.
 */
export const CLOSE_DEADLINES_MS = {
  /** Signalling sessions and /safety sockets told and closed; WebSockets whose client has not answered the close are cut in `http`. */
  connections: 1000,
  /** socket.io's engine and fastify closed: listening stopped, requests in flight answered, every socket gone. */
  http: 2000,
  /** mediasoup workers exited; one still running after `workerExitMs` is killed (SIGKILL). */
  workers: 3000,
  /** The safety-records store closed. */
  store: 2000,
} as const;

/** How long a worker has to exit on SIGTERM before it is killed (within the `workers` deadline). */
export const WORKER_EXIT_MS = 2500;

/** The longest the close can take: the stages one after another (workers and store side by side). */
export const CLOSE_BUDGET_MS = CLOSE_DEADLINES_MS.connections + CLOSE_DEADLINES_MS.http
  + Math.max(CLOSE_DEADLINES_MS.workers, CLOSE_DEADLINES_MS.store);

export type StageName = keyof typeof CLOSE_DEADLINES_MS;

/** What a close did: the stages that had to be forced (missed their deadline, failed, or killed something), and how long each took. */
export interface ShutdownReport {
  readonly forced: readonly string[];
  readonly stageMs: Readonly<Record<string, number>>;
}

interface StageOptions {
  /** Called when the deadline passes with the stage unfinished: cut what is left. */
  readonly onDeadline?: () => void;
  /** Whether missing the deadline counts as forcing (false when only clients are late). Default true. */
  readonly deadlineForces?: boolean;
}

/** Runs close stages, each within its deadline, and records which had to be forced. */
export class ShutdownStages {
  readonly #log: Logger;
  readonly #forced: string[] = [];
  readonly #stageMs: Record<string, number> = {};

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Runs `run` for at most `deadlineMs`. The stage is forced when `run` resolves `'forced'` (it had
   * to cut something itself), throws, or has not settled by the deadline (then `onDeadline` runs
   * and the close goes on without waiting for it). Never throws.
   */
  async run(name: string, deadlineMs: number, run: () => Promise<void | 'forced'>, opts: StageOptions = {}): Promise<void> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), deadlineMs); });
    const work = (async () => run())().then(
      (r) => (r === 'forced' ? 'forced' as const : 'done' as const),
      (err: unknown) => {
        this.#log.error({ stage: name, err }, 'shutdown stage failed');
        return 'failed' as const;
      },
    );
    const outcome = await Promise.race([work, late]);
    clearTimeout(timer);
    this.#stageMs[name] = Math.round(performance.now() - started);
    if (outcome === 'late') {
      try {
        opts.onDeadline?.();
      } catch (err) {
        this.#log.error({ stage: name, err }, 'shutdown stage failed');
      }
      if (opts.deadlineForces !== false) this.#forced.push(name);
    } else if (outcome !== 'done') {
      this.#forced.push(name);
    }
  }

  /** Runs a synchronous step of the close; one that throws is logged and counted as forced. Never throws. */
  step(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ stage: name, err }, 'shutdown stage failed');
      this.#forced.push(name);
    }
  }

  report(): ShutdownReport {
    return { forced: [...this.#forced], stageMs: { ...this.#stageMs } };
  }
}

const REFUSAL_BODY = JSON.stringify({ error: { code: 'SERVER_DRAINING', message: 'server is shutting down; join another node' } });
const REFUSAL = [
  'HTTP/1.1 503 Service Unavailable', 'Connection: close', 'Content-Type: application/json',
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}`, '', REFUSAL_BODY,
].join('\r\n');

/**
 * Every TCP connection of the HTTP server, for the close: a connection stays known after an
 * upgrade (when the HTTP server itself forgets it), so nothing can keep `server.close()` from
 * finishing. Create it after everything that wraps the server's `request` listeners (socket.io).
 */
export class ServerConnections {
  readonly #server: HttpServer;
  readonly #all = new Set<Duplex>();
  /** Connections handed to an upgrade listener (WebSockets, and upgrades under way). */
  readonly #upgraded = new Set<Duplex>();
  /** Requests in flight per connection. */
  readonly #busy = new Map<Duplex, number>();
  #idleWaiters: (() => void)[] = [];
  #refusing = false;
  #closing = false;

  constructor(server: HttpServer) {
    this.#server = server;
    server.on('connection', (socket: Duplex) => {
      if (this.#closing) {
        socket.destroy();
        return;
      }
      this.#all.add(socket);
      socket.once('close', () => this.#forget(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const n = (this.#busy.get(socket) ?? 1) - 1;
        if (n > 0) {
          this.#busy.set(socket, n);
          return;
        }
        this.#busy.delete(socket);
        // While closing, a connection is let go as soon as its last answer is out.
        if (this.#closing) socket.end(() => socket.destroy());
      });
    });
    server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      if (!this.#refusing) this.#upgraded.add(socket);
    });
  }

  /** Open connections, and those among them that were upgraded. */
  get counts(): { open: number; upgraded: number } {
    return { open: this.#all.size, upgraded: this.#upgraded.size };
  }

  /**
   * From now on every upgrade (/rtc and socket.io alike) is answered 503 SERVER_DRAINING and its
   * socket destroyed; no upgrade listener sees it any more.
   */
  refuseUpgrades(): void {
    if (this.#refusing) return;
    this.#refusing = true;
    this.#server.removeAllListeners('upgrade');
    this.#server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      // Node removed its own error listener before handing the socket over.
      socket.on('error', () => socket.destroy());
      socket.end(REFUSAL, () => socket.destroy());
    });
  }

  /** Resolves when no upgraded connection is left. */
  upgradedClosed(): Promise<void> {
    if (this.#upgraded.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * The HTTP close begins: connections without a request in flight (idle keep-alives, half-sent
   * requests and upgrades, WebSockets whose client has not answered the close) are destroyed now,
   * new connections at once, and the others as soon as their last answer is out.
   */
  startClosing(): void {
    this.#refusing = true;
    this.#closing = true;
    for (const s of this.#all) if (!this.#busy.has(s)) s.destroy();
  }

  /** Destroys every connection left; returns how many there were. */
  destroyAll(): number {
    const n = this.#all.size;
    for (const s of this.#all) s.destroy();
    return n;
  }

  #forget(socket: Duplex): void {
    this.#all.delete(socket);
    this.#busy.delete(socket);
    if (this.#upgraded.delete(socket) && this.#upgraded.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
