import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../telemetry/logger.ts';

export interface RedisLinkOptions {
  /** redis://[user:password@]host:port[/db] or rediss://... */
  readonly url: string;
  readonly nodeId: string;
  /** Deadline of every command (and of the liveness probe); the socket is dropped and reopened after twice this without an answer. */
  readonly callTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly probeIntervalMs: number;
  /** Prefix of every channel and key. */
  readonly keyPrefix: string;
  readonly log: Logger;
  /** Told of every change of liveness (sfu_redis_up). */
  readonly onLiveness?: (up: boolean) => void;
}

/** The liveness view shown in /readyz: both connections answered their last probe, since when, and the last error. */
export interface RedisState {
  readonly up: boolean;
  readonly since: string;
  readonly lastError?: string | undefined;
}

/** Reconnect backoff: 100 ms, doubled per attempt, at most 1 s (so a recovered Redis is used again within about a second). */
const reconnectDelay = (attempt: number): number => Math.min(100 * 2 ** Math.max(0, attempt - 1), 1000);

/** `<hostname>-<pid>` in the node id's alphabet, when no node id is configured. */
export function resolveNodeId(configured: string): string {
  if (configured) return configured;
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48) || 'node';
  return `${host}-${process.pid}`;
}

/** The Redis URL without its credentials, for logs and /readyz: `redis://host:port/db`. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * This node's link to Redis: a command connection and a subscriber connection (ioredis). Calls
 * fail fast while Redis is down (no offline queue, no retries of a command) and within
 * `callTimeoutMs` while it hangs; both connections reconnect by themselves and the subscriber
 * re-subscribes on every (re)connection. A probe (PING on each connection every
 * `probeIntervalMs`) keeps the liveness view. Opening never waits for Redis: a node starts and
 * serves without it.
 */
export class RedisLink {
  readonly #opts: RedisLinkOptions;
  readonly #commands: Redis;
  readonly #subscriber: Redis;
  readonly #handlers = new Map<string, (message: string) => void>();
  readonly #secret: string;
  readonly #probe: NodeJS.Timeout;
  #state: RedisState = { up: false, since: new Date().toISOString() };
  #closed = false;

  constructor(opts: RedisLinkOptions) {
    this.#opts = opts;
    let secret = '';
    try { secret = decodeURIComponent(new URL(opts.url).password); } catch { /* no password to hide */ }
    this.#secret = secret;
    const options: RedisOptions = {
      connectTimeout: opts.connectTimeoutMs,
      commandTimeout: opts.callTimeoutMs,
      socketTimeout: opts.callTimeoutMs * 2,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      retryStrategy: reconnectDelay,
      connectionName: `sfu-${opts.nodeId}`.slice(0, 64),
    };
    this.#commands = new Redis(opts.url, options);
    this.#subscriber = new Redis(opts.url, options);
    for (const conn of [this.#commands, this.#subscriber]) {
      conn.on('error', (err: Error) => this.#down(err));
      conn.on('close', () => this.#down(undefined));
      conn.on('ready', () => void this.#check());
    }
    this.#subscriber.on('ready', () => void this.#resubscribe());
    this.#subscriber.on('message', (channel: string, message: string) => {
      const handler = this.#handlers.get(channel);
      if (!handler) return;
      try {
        handler(message);
      } catch (err) {
        opts.log.error({ err: this.#clean(err) }, 'a Redis message handler threw');
      }
    });
    this.#probe = setInterval(() => void this.#check(), opts.probeIntervalMs);
    this.#probe.unref();
    opts.log.info({ redis: describeRedisUrl(opts.url), node: opts.nodeId }, 'cluster: connecting to Redis');
  }

  get state(): RedisState { return this.#state; }

  /** Publishes on `<keyPrefix><channel>`; rejects at once while Redis is down, within the call deadline while it hangs. */
  async publish(channel: string, message: string): Promise<number> {
    return this.#commands.publish(this.#opts.keyPrefix + channel, message);
  }

  /** `<keyPrefix><name>`: the full name of one of this service's keys. */
  key(name: string): string {
    return this.#opts.keyPrefix + name;
  }

  /** Runs a Lua script (atomic in Redis) on full key names (see key()); bounded like every call. */
  async eval(script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.#commands.eval(script, keys.length, ...keys, ...args);
  }

  /** SET key value PX ms (full key name). */
  async setPx(key: string, value: string, ms: number): Promise<void> {
    await this.#commands.set(key, value, 'PX', ms);
  }

  async sadd(key: string, member: string): Promise<void> {
    await this.#commands.sadd(key, member);
  }

  async srem(key: string, members: readonly string[]): Promise<void> {
    if (members.length > 0) await this.#commands.srem(key, ...members);
  }

  async smembers(key: string): Promise<string[]> {
    return this.#commands.smembers(key);
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.length === 0 ? [] : this.#commands.mget(...keys);
  }

  /** ZADD key NX score member ...: adds the members not there yet (their first score stays). */
  async zaddNx(key: string, entries: readonly (readonly [score: number, member: string])[]): Promise<void> {
    if (entries.length > 0) await this.#commands.zadd(key, 'NX', ...entries.flat());
  }

  async zrem(key: string, members: readonly string[]): Promise<void> {
    if (members.length > 0) await this.#commands.zrem(key, ...members);
  }

  /** The members scored at most `max` (ZRANGEBYSCORE key -inf max). */
  async zrangeUpTo(key: string, max: number): Promise<string[]> {
    return this.#commands.zrangebyscore(key, '-inf', max);
  }

  /** Delivers every message of `<keyPrefix><channel>` to `onMessage`, across reconnections. One handler per channel. */
  subscribe(channel: string, onMessage: (message: string) => void): void {
    this.#handlers.set(this.#opts.keyPrefix + channel, onMessage);
    if (this.#subscriber.status === 'ready') void this.#resubscribe();
  }

  /** Drops both connections at once (nothing in flight needs to finish) and stops the probe. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    this.#commands.disconnect();
    this.#subscriber.disconnect();
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#handlers.keys()];
    if (channels.length === 0) return;
    try {
      await this.#subscriber.subscribe(...channels);
    } catch (err) {
      // The next ready event (after the reconnection this failure leads to) subscribes again.
      this.#down(err);
    }
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    try {
      await Promise.all([this.#commands.ping(), this.#subscriber.ping()]);
      // Up means messages flow both ways: after a reconnection, not before the subscriptions are back
      // (a revocation published in between would otherwise only arrive by the store read).
      if (this.#handlers.size > 0 && this.#subscriber.mode !== 'subscriber') {
        await this.#subscriber.subscribe(...this.#handlers.keys());
      }
      this.#set(true, undefined);
    } catch (err) {
      this.#down(err);
    }
  }

  #down(err: unknown): void {
    if (this.#closed) return;
    this.#set(false, err === undefined ? undefined : this.#clean(err));
  }

  #set(up: boolean, error: string | undefined): void {
    const lastError = error ?? this.#state.lastError;
    if (up === this.#state.up) {
      if (lastError !== this.#state.lastError) this.#state = { ...this.#state, lastError };
      return;
    }
    this.#state = { up, since: new Date().toISOString(), lastError };
    this.#opts.onLiveness?.(up);
    const redis = describeRedisUrl(this.#opts.url);
    if (up) this.#opts.log.info({ redis }, 'cluster: Redis is up');
    else this.#opts.log.warn({ redis, error: lastError }, 'cluster: Redis is down; rooms go on, revocations reach other nodes by the store read');
  }

  /** An error's message with the URL's password taken out, should a driver ever put it there. */
  #clean(err: unknown): string {
    const message = (err instanceof Error ? err.message : String(err)).slice(0, 200);
    return this.#secret ? message.replaceAll(this.#secret, '[redacted]') : message;
  }
}

/** The two clients socket.io's Redis adapter needs (`@socket.io/redis-adapter`), made safe for the panic channel. */
export interface AdapterClients {
  /** Publishes only: a failed or timed-out publish is counted and dropped, never thrown (nothing waits on it). */
  readonly pub: { publish(channel: string, message: string | Buffer): Promise<number>; on(event: string, l: (...a: unknown[]) => void): unknown; off(event: string, l: (...a: unknown[]) => void): unknown };
  /** The subscriber (pattern and plain subscriptions, re-made on every reconnection). */
  readonly sub: Redis;
  close(): void;
}

/**
 * Clients for socket.io's Redis adapter on /safety (docs/scaling.md, "Alarms on every node"), with
 * the link's rules: the publisher has no offline queue and the call deadline, so a broadcast's
 * publish fails at once while Redis is down and within `callTimeoutMs` while it hangs, and the
 * failure is only logged (at most once per 10 s): the adapter never awaits a publish, and the local
 * delivery of an alarm never depends on it. The subscriber queues its (re)subscriptions until
 * Redis answers and re-subscribes on every reconnection; its calls are never awaited by anyone.
 */
export function createAdapterClients(opts: Omit<RedisLinkOptions, 'keyPrefix' | 'probeIntervalMs' | 'onLiveness'>): AdapterClients {
  const base: RedisOptions = { connectTimeout: opts.connectTimeoutMs, retryStrategy: reconnectDelay };
  const pubClient = new Redis(opts.url, {
    ...base, commandTimeout: opts.callTimeoutMs, socketTimeout: opts.callTimeoutMs * 2, enableOfflineQueue: false, maxRetriesPerRequest: 0,
    connectionName: `sfu-${opts.nodeId}-safety-pub`.slice(0, 64),
  });
  const sub = new Redis(opts.url, {
    ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true,
    connectionName: `sfu-${opts.nodeId}-safety-sub`.slice(0, 64),
  });
  let secret = '';
  try { secret = decodeURIComponent(new URL(opts.url).password); } catch { /* no password to hide */ }
  const clean = (err: unknown) => {
    const m = (err instanceof Error ? err.message : String(err)).slice(0, 200);
    return secret ? m.replaceAll(secret, '[redacted]') : m;
  };
  let lastWarn = 0;
  const failed = (err: unknown) => {
    if (Date.now() - lastWarn < 10_000) return;
    lastWarn = Date.now();
    opts.log.warn({ error: clean(err) }, 'cluster: a /safety broadcast could not be published to other nodes (they get it on replay)');
  };
  // Both connections report through the link's liveness view; errors here are expected while Redis is down.
  pubClient.on('error', () => undefined);
  sub.on('error', () => undefined);
  // The adapter calls subscribe/psubscribe/unsubscribe without awaiting them: never let one reject unhandled.
  for (const m of ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'] as const) {
    const call = (sub[m] as (...a: unknown[]) => Promise<unknown>).bind(sub);
    (sub as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      const p = call(...a);
      p.catch(() => undefined);
      return p;
    };
  }
  const pub: AdapterClients['pub'] = {
    publish: (channel, message) => pubClient.publish(channel, message).catch((err: unknown) => { failed(err); return 0; }),
    on: (event, l) => pubClient.on(event, l),
    off: (event, l) => pubClient.off(event, l),
  };
  return {
    pub, sub,
    close() {
      pubClient.disconnect();
      sub.disconnect();
    },
  };
}
