import { io, type Socket } from 'socket.io-client';
import { Emitter } from './emitter.ts';
import {
  PANIC_SERVER_EVENTS,
  type PanicRequest,
  type PanicRequests,
  type PanicServerEvents,
  type Reply,
} from './panic-protocol.ts';

export type ChannelState = 'connecting' | 'connected' | 'reconnecting' | `error:${string}`;

export type SafetyChannelEvents = { [K in keyof PanicServerEvents]: [PanicServerEvents[K]] } & {
  state: [ChannelState];
};

/** Handshake refusals that a retry with the same token cannot fix. */
const FATAL_HANDSHAKE = new Set([
  'TOKEN_MISSING', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_ALGORITHM_NOT_ALLOWED', 'TOKEN_CLAIMS_INVALID', 'IDENTITY_REVOKED',
]);

/** Replies that a retry of the same request cannot change. */
const FINAL_ERRORS = new Set(['INVALID_REQUEST', 'PERMISSION_DENIED', 'INCIDENT_NOT_FOUND', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'IDENTITY_REVOKED']);

/** How long the channel waits before connecting again when socket.io will not (a refusal, a close by the server). */
const RETRY_AFTER_MS = 2000;

export class ChannelError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The /safety socket.io connection (long-polling first, upgraded to WebSocket when the network
 * allows: school proxies often block WebSockets). Reconnects on its own; while disconnected,
 * socket.io buffers what is emitted and sends it on reconnection.
 */
export class SafetyChannel {
  readonly events = new Emitter<SafetyChannelEvents>();
  readonly token: string;
  readonly #socket: Socket;
  #state: ChannelState = 'connecting';
  #closed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  /** The origin of the server this channel talks to (the session's node with several nodes). */
  readonly origin: string;

  constructor(opts: { token: string; origin?: string | undefined }) {
    this.token = opts.token;
    // The page's origin by default (read through globalThis: this module also runs in Node, in tests).
    const origin = opts.origin ?? (globalThis as unknown as { location: { origin: string } }).location.origin;
    this.origin = origin;
    this.#socket = io(`${origin}/safety`, {
      path: '/socket.io',
      auth: { token: opts.token },
      forceNew: true,
      // WebSocket first (one connection to one node: no sticky sessions needed behind a load
      // balancer); long-polling only where WebSocket cannot connect.
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      timeout: 10_000,
    });
    for (const name of PANIC_SERVER_EVENTS) {
      this.#socket.on(name, (data: unknown) => this.events.emit(name, data as never));
    }
    this.#socket.on('connect', () => this.#setState('connected'));
    this.#socket.on('disconnect', (reason) => {
      if (this.#closed) return;
      this.#setState('reconnecting');
      // Closed by the server (its identity opened more than safety.socket.maxSocketsPerIdentity
      // sockets and this was the oldest, or a revocation): socket.io does not reconnect by itself,
      // and a page must never sit with a dead panic channel. Connect again: a revoked identity is
      // refused at the handshake (IDENTITY_REVOKED, fatal above); anyone else is let in.
      if (reason === 'io server disconnect') this.#retrySoon();
    });
    this.#socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      const code = err.data?.code ?? err.message;
      if (FATAL_HANDSHAKE.has(code)) {
        this.#setState(`error:${code}`);
        return;
      }
      this.#setState(this.#state === 'connecting' ? 'connecting' : 'reconnecting');
      // A refusal by the namespace's middleware (not a network failure) stops socket.io's own
      // reconnection: try again ourselves.
      if (!this.#socket.active && !this.#closed) {
        this.#retrySoon();
      }
    });
  }

  get state(): ChannelState { return this.#state; }
  get connected(): boolean { return this.#socket.connected; }

  /**
   * Emits `event` and waits for the server's reply; rejects with a ChannelError carrying the
   * server's code, or TIMEOUT. Emitted while disconnected, it waits in socket.io's buffer.
   */
  async request<E extends PanicRequest>(event: E, data: PanicRequests[E][0], timeoutMs = 5000): Promise<PanicRequests[E][1]> {
    let reply: Reply<PanicRequests[E][1]>;
    try {
      reply = await this.#socket.timeout(timeoutMs).emitWithAck(event, data) as Reply<PanicRequests[E][1]>;
    } catch {
      throw new ChannelError('TIMEOUT', `no answer to ${event} within ${timeoutMs} ms`);
    }
    if (!reply.ok) throw new ChannelError(reply.error.code, reply.error.message);
    return reply.data;
  }

  /**
   * Sends `event` until the server answers: on a timeout or a transient error it tries again with
   * the same data (so the request must be idempotent: `panic:raise` is, by its clientIncidentId).
   * `onRetry` learns of each failed attempt. Stops on a final error, or when `stop(error)` is true.
   */
  async requestUntilAnswered<E extends PanicRequest>(
    event: E,
    data: PanicRequests[E][0],
    opts: { timeoutMs?: number; onRetry?: (attempt: number, err: ChannelError) => void; stop?: (err: ChannelError) => boolean } = {},
  ): Promise<PanicRequests[E][1]> {
    const timeoutMs = opts.timeoutMs ?? 4000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request(event, data, timeoutMs);
      } catch (err) {
        const e = err instanceof ChannelError ? err : new ChannelError('INTERNAL_ERROR', String(err));
        if (FINAL_ERRORS.has(e.code) || this.#closed || opts.stop?.(e)) throw e;
        opts.onRetry?.(attempt, e);
        // A timeout already waited; a prompt error (NOT_JOINED while the session rejoins, a store
        // hiccup) waits a little before trying again.
        if (e.code !== 'TIMEOUT') await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3000)));
      }
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#socket.disconnect();
    this.events.removeAll();
  }

  /** Connects again in 2 s (socket.io's own reconnection has stopped). */
  #retrySoon(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => { if (!this.#closed) this.#socket.connect(); }, RETRY_AFTER_MS);
  }

  #setState(state: ChannelState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.events.emit('state', state);
  }
}
