import { Emitter } from './emitter.ts';
import { CLOSE, type MethodName, type Methods, type NotificationName, type Notifications } from './protocol.ts';

/** A failure with a stable code: a server error code, or one of the client's own (below). */
export class SignallingError extends Error {
  readonly code: string;
  /** What the server's error carries besides its message (e.g. ROOM_ELSEWHERE's `url`). */
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, data?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'SignallingError';
    this.code = code;
    this.data = data;
  }
}

/**
 * Codes the client itself produces (the server's are in docs/errors.md):
 * - CONNECTION_FAILED: the socket would not open although the server accepts the token
 * - SERVER_UNREACHABLE: no HTTP answer from the server at all
 * - CONNECTION_LOST: the socket dropped and could not be re-established in time
 * - REQUEST_TIMEOUT: no response to a request in time
 * - NOT_CONNECTED: a request was made while the socket is down
 * - TOO_MANY_REDIRECTS: the join was sent to another node (ROOM_ELSEWHERE) more than twice in a row
 */
export type ClientErrorCode = 'CONNECTION_FAILED' | 'SERVER_UNREACHABLE' | 'CONNECTION_LOST' | 'REQUEST_TIMEOUT' | 'NOT_CONNECTED' | 'TOO_MANY_REDIRECTS';

export interface SignallingOptions {
  /** ws(s)://host/rtc?token=...[&room=...] */
  readonly url: string;
  /** Per-request deadline (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** How long to keep trying to reconnect after a drop (default 25 s, under the server's 30 s grace). */
  readonly reconnectForMs?: number;
  /**
   * Where to reconnect when the current URL does not answer (default `url`): the entry point the
   * session started at (a load balancer in front of several nodes) when `url` is a node it was sent
   * to. Once moved elsewhere (moveTo), reconnection alternates between there and the entry point
   * (docs/scaling.md, "Node loss").
   */
  readonly fallbackUrl?: string | undefined;
}

export type SignallingEvents = {
  /** The socket dropped unexpectedly; reconnection is under way. */
  disconnected: [{ code: number; reason: string }];
  /** A new socket is open after a drop: the caller resumes its session on it. */
  reconnected: [];
  /** The connection is over for good (closed by us, refused, or reconnection gave up). */
  closed: [{ code: number; reason: string; errorCode: string }];
};

type NotificationHandler<K extends NotificationName> = (data: Notifications[K]) => void;

interface Pending {
  readonly method: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (err: SignallingError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Close codes after which reconnecting is pointless: the server ended the session on purpose. */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CLOSE));
/** Diagnosed refusals worth retrying: the server may be back (or another node may answer) soon. */
const RETRYABLE = new Set(['CONNECTION_FAILED', 'SERVER_UNREACHABLE', 'SERVER_DRAINING']);
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

/**
 * The signalling WebSocket: typed requests with timeouts, typed notifications, and automatic
 * reconnection after an unexpected drop (the caller re-joins with its resume token on
 * `reconnected`). A browser cannot read the HTTP status of a refused WebSocket upgrade, so when
 * a socket fails to open the same URL is fetched over plain HTTP to learn the server's coded error.
 */
export class SignallingClient {
  readonly events = new Emitter<SignallingEvents>();
  readonly #opts: Required<Omit<SignallingOptions, 'fallbackUrl'>> & Pick<SignallingOptions, 'fallbackUrl'>;
  /** Where the socket is (or is being) connected: `url` at first, then where reconnection or moveTo() took it. */
  #url: string;
  /** When the current reconnection episode gives up (set at a drop, kept across moveTo(), cleared by settled()). */
  #giveUpAt: number | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers = new Map<NotificationName, Set<(data: never) => void>>();
  #ws: WebSocket | undefined;
  #nextId = 1;
  #closed = false;
  /** Bumped by every reconnection loop: an older loop still sleeping stops. */
  #episode = 0;

  constructor(opts: SignallingOptions) {
    this.#opts = { requestTimeoutMs: 10_000, reconnectForMs: 25_000, ...opts };
    this.#url = opts.url;
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** The signalling URL this client is connected (or reconnecting) to. */
  get url(): string {
    return this.#url;
  }

  /**
   * The session goes on at another node (a resume answered ROOM_ELSEWHERE): drops the current
   * socket and reconnects to `url` (falling back to the entry point as after a drop), within the
   * deadline of the reconnection under way; `reconnected` follows as after a drop.
   */
  moveTo(url: string): void {
    if (this.#closed) return;
    const ws = this.#ws;
    this.#ws = undefined;
    this.#failPending('moved to another node');
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CLOSE.NORMAL, 'MOVED');
    this.#url = url;
    void this.#reconnect();
  }

  /** Where to reconnect first after a drop from now on (the node hosting the session); the entry point stays the fallback. */
  preferUrl(url: string): void {
    if (!this.#closed) this.#url = url;
  }

  /** The caller resumed its session: the next drop starts a new reconnection episode with a full deadline. */
  settled(): void {
    this.#giveUpAt = undefined;
  }

  /** Asks the server to close these transports (with their producers and consumers); a refusal or a lost answer is ignored: they are being given up either way. */
  async closeTransports(transportIds: readonly string[]): Promise<void> {
    await Promise.all(transportIds.map((transportId) => this.request('closeTransport', { transportId }).catch(() => undefined)));
  }

  /** Opens the first socket; rejects with the server's coded refusal (WRONG_ROOM, TOKEN_EXPIRED, ...). */
  async connect(): Promise<void> {
    this.#attach(await this.#open());
  }

  onNotification<K extends NotificationName>(name: K, handler: NotificationHandler<K>): void {
    let set = this.#handlers.get(name);
    if (!set) this.#handlers.set(name, (set = new Set()));
    set.add(handler as (data: never) => void);
  }

  request<M extends MethodName>(method: M, data: Methods[M][0], timeoutMs = this.#opts.requestTimeoutMs): Promise<Methods[M][1]> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SignallingError('NOT_CONNECTED', `cannot send ${method}: not connected`));
    }
    const id = this.#nextId++;
    return new Promise<Methods[M][1]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SignallingError('REQUEST_TIMEOUT', `${method}: no response in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (d: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ id, method, data }));
    });
  }

  /** Ends the connection for good; pending requests fail with CONNECTION_LOST. Idempotent. */
  close(code: number = CLOSE.NORMAL, reason = 'LEFT'): void {
    if (this.#closed) return;
    this.#closed = true;
    const ws = this.#ws;
    this.#ws = undefined;
    this.#failPending('connection closed');
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
    this.events.emit('closed', { code, reason, errorCode: reason });
  }

  /** Opens one socket; a refusal is diagnosed, a socket that neither opens nor fails in time is given up. */
  #open(url = this.#url): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.onclose = null;
        ws.close();
        reject(new SignallingError('CONNECTION_FAILED', `the signalling connection did not open in ${this.#opts.requestTimeoutMs} ms`));
      }, this.#opts.requestTimeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        ws.onopen = null;
        ws.onclose = null;
        resolve(ws);
      };
      ws.onclose = () => {
        clearTimeout(timer);
        void diagnose(url).then((code) => reject(new SignallingError(code, describeRefusal(code))));
      };
    });
  }

  #attach(ws: WebSocket): void {
    if (this.#closed) {
      ws.close(CLOSE.NORMAL, 'LEFT');
      return;
    }
    this.#ws = ws;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      console.warn('signalling: ignoring a message that is not JSON');
      return;
    }
    if (typeof msg.notification === 'string') {
      for (const handler of [...(this.#handlers.get(msg.notification as NotificationName) ?? [])]) {
        try {
          (handler as (d: unknown) => void)(msg.data);
        } catch (err) {
          console.error(`signalling: handler for ${msg.notification} failed`, err);
        }
      }
      return;
    }
    const pending = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
    if (!pending) {
      if (msg.ok === false) console.warn('signalling: server reported an error', msg.error);
      return;
    }
    this.#pending.delete(msg.id as number);
    clearTimeout(pending.timer);
    if (msg.ok === true) {
      pending.resolve(msg.data);
    } else {
      const error = (msg.error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
      pending.reject(new SignallingError(
        typeof error.code === 'string' ? error.code : 'INTERNAL_ERROR',
        typeof error.message === 'string' ? error.message : `${pending.method} failed`,
        typeof error.data === 'object' && error.data !== null ? error.data as Record<string, unknown> : undefined,
      ));
    }
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws || this.#closed) return;
    this.#ws = undefined;
    this.#failPending('connection lost');
    if (FINAL_CLOSE_CODES.has(code)) {
      this.#closed = true;
      this.events.emit('closed', { code, reason, errorCode: /^[A-Z_]+$/.test(reason) ? reason : codeName(code) });
      return;
    }
    console.info(`signalling: connection lost (close code ${code}); reconnecting`);
    this.events.emit('disconnected', { code, reason });
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    this.#giveUpAt ??= Date.now() + this.#opts.reconnectForMs;
    const giveUpAt = this.#giveUpAt;
    const episode = ++this.#episode;
    // The entry point: where the session started (or the one it was given), unless that is where we are.
    const entry = this.#opts.fallbackUrl ?? this.#opts.url;
    const fallback = entry !== this.#url ? entry : undefined;
    let lastCode = 'CONNECTION_LOST';
    for (let attempt = 0; !this.#closed && Date.now() < giveUpAt; attempt++) {
      await sleep(BACKOFF_MS[Math.min(Math.floor(attempt / (fallback ? 2 : 1)), BACKOFF_MS.length - 1)]!);
      // Closed, or superseded by a moveTo() meanwhile.
      if (this.#closed || episode !== this.#episode) return;
      // Every other attempt goes through the entry point: a node that is gone never answers again.
      const target = fallback && attempt % 2 === 1 ? fallback : this.#url;
      try {
        const ws = await this.#open(target);
        if (episode !== this.#episode) {
          ws.close(CLOSE.NORMAL, 'MOVED');
          return;
        }
        this.#url = target;
        this.#attach(ws);
        console.info(`signalling: reconnected (attempt ${attempt + 1}${target === fallback ? ', through the entry point' : ''})`);
        if (!this.#closed) this.events.emit('reconnected');
        return;
      } catch (err) {
        lastCode = err instanceof SignallingError ? err.code : 'CONNECTION_LOST';
        console.info(`signalling: reconnection attempt ${attempt + 1} failed (${lastCode})`);
        if (!RETRYABLE.has(lastCode)) break;
      }
    }
    if (this.#closed || episode !== this.#episode) return;
    this.#closed = true;
    const errorCode = RETRYABLE.has(lastCode) ? 'CONNECTION_LOST' : lastCode;
    this.events.emit('closed', { code: 1006, reason: errorCode, errorCode });
  }

  #failPending(why: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new SignallingError('CONNECTION_LOST', `${p.method}: ${why}`));
      this.#pending.delete(id);
    }
  }
}

/**
 * Learns why a WebSocket upgrade failed: the server answers a plain GET of the same URL with the
 * same checks and a coded JSON body ({error: {code, message}}); a token it accepts gets a 404.
 */
async function diagnose(wsUrl: string): Promise<string> {
  const httpUrl = wsUrl.replace(/^ws/, 'http');
  try {
    const res = await fetch(httpUrl, { cache: 'no-store', credentials: 'omit' });
    if (res.ok || res.status === 404) return 'CONNECTION_FAILED';
    const body = (await res.json().catch(() => undefined)) as { error?: { code?: unknown } } | undefined;
    return typeof body?.error?.code === 'string' ? body.error.code : `HTTP_${res.status}`;
  } catch {
    return 'SERVER_UNREACHABLE';
  }
}

function describeRefusal(code: string): string {
  return code === 'CONNECTION_FAILED' ? 'the signalling connection could not be opened'
    : code === 'SERVER_UNREACHABLE' ? 'the server did not answer'
      : `the server refused the connection (${code})`;
}

function codeName(code: number): string {
  for (const [name, value] of Object.entries(CLOSE)) if (value === code) return name === 'NORMAL' ? 'LEFT' : name;
  return 'CONNECTION_LOST';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
