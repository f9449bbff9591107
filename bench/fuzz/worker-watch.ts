/**
 * Which requests to the mediasoup worker are still waiting for their answer. mediasoup's Channel
 * (3.12, and still 3.27) has no request timeout: a request the worker never answers leaves the awaiting
 * room step (and every later step of that room, and the requests queued behind it) waiting for ever.
 * To tell such a hang from one in the server's own code, the fuzz run wraps Channel.prototype.request
 * (for the run only) and lists the requests older than a threshold.
 * Since 3.13 the channel carries FlatBuffers: a request is (method: FBS enum number, body type, body
 * offset into a builder, handlerId), so only the method number and handler are recorded; the JSON
 * lone-surrogate hazard of 3.12's channel is gone (the `data` field stays empty).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type Request = (method: number, bodyType?: number, bodyOffset?: number, handlerId?: string) => Promise<unknown>;
// mediasoup 3.27's package exports hide node/lib/*: Channel.js is reached next to the package's entry.
const require = createRequire(import.meta.url);
const { Channel } = require(join(dirname(require.resolve('mediasoup')), 'Channel.js')) as { Channel: { prototype: { request: Request } } };

interface InFlight { readonly method: string; readonly handlerId: string | undefined; readonly data: string; readonly loneSurrogateAt: string | undefined; readonly at: number }

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The path of the first string (or key) holding a lone UTF-16 surrogate, if any. */
export function loneSurrogatePath(v: unknown, path = '', depth = 0): string | undefined {
  if (typeof v === 'string') return LONE.test(v) ? path || '(root)' : undefined;
  if (depth > 50 || v === null || typeof v !== 'object') return undefined;
  for (const [k, x] of Object.entries(v)) {
    const here = Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    if (LONE.test(k)) return `${here} (key)`;
    const found = loneSurrogatePath(x, here, depth + 1);
    if (found) return found;
  }
  return undefined;
}

export class WorkerWatch {
  readonly #inFlight = new Map<number, InFlight>();
  readonly #original: Request;
  #next = 0;
  requests = 0;

  constructor() {
    const original = Channel.prototype.request;
    this.#original = original;
    const inFlight = this.#inFlight;
    const watch = this;
    Channel.prototype.request = function request(this: unknown, method: number, bodyType?: number, bodyOffset?: number, handlerId?: string): Promise<unknown> {
      const key = ++watch.#next;
      watch.requests++;
      inFlight.set(key, { method: `FBS method ${method}`, handlerId, data: '', loneSurrogateAt: undefined, at: performance.now() });
      const p = original.call(this, method, bodyType, bodyOffset, handlerId);
      p.then(() => inFlight.delete(key), () => inFlight.delete(key));
      return p;
    };
  }

  /** Requests waiting longer than `ms`, oldest first. */
  stuck(ms: number): { method: string; handlerId: string | undefined; data: string; loneSurrogateAt: string | undefined; waitingMs: number }[] {
    const now = performance.now();
    return [...this.#inFlight.values()]
      .filter((r) => now - r.at > ms)
      .sort((a, b) => a.at - b.at)
      .map((r) => ({ method: r.method, handlerId: r.handlerId, data: r.data, loneSurrogateAt: r.loneSurrogateAt, waitingMs: Math.round(now - r.at) }));
  }

  restore(): void {
    Channel.prototype.request = this.#original;
  }
}
