/**
 * Which requests to the mediasoup worker are still waiting for their answer. mediasoup 3.12's
 * Channel has no request timeout: a request the worker never answers leaves the awaiting room step
 * (and every later step of that room, and the requests queued behind it) waiting for ever. To tell
 * such a hang from one in the server's own code, the fuzz run wraps Channel.prototype.request
 * (for the run only) and lists the requests older than a threshold.
 */
import { Channel } from 'mediasoup/node/lib/Channel.js';

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
  readonly #original: Channel['request'];
  #next = 0;
  requests = 0;

  constructor() {
    const original = Channel.prototype.request;
    this.#original = original;
    const inFlight = this.#inFlight;
    const watch = this;
    Channel.prototype.request = function request(this: Channel, method: string, handlerId?: string, data?: unknown): Promise<unknown> {
      const key = ++watch.#next;
      watch.requests++;
      let shown = '';
      try {
        shown = JSON.stringify(data) ?? '';
      } catch (err) {
        shown = `(not serialisable: ${String(err)})`;
      }
      const loneSurrogateAt = shown.includes('\\ud') ? loneSurrogatePath(data) : undefined;
      inFlight.set(key, { method, handlerId, data: shown.length > 20_000 ? `${shown.slice(0, 20_000)}…(${shown.length} chars)` : shown, loneSurrogateAt, at: performance.now() });
      const p = original.call(this, method, handlerId, data);
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
