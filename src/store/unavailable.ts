import { SfuError } from '../shared/errors.ts';
import { within } from '../shared/deadline.ts';

/**
 * How long a store call may take (docs/records.md, "Store deadlines"): every call of the Store
 * interface rejects with STORE_UNAVAILABLE when its deadline passes, whatever the database does.
 * `callTimeoutMs` bounds the calls of the request paths (joins, location updates, withdrawals,
 * panic writes, revocations, readiness); the maintenance calls that read or rewrite whole tables
 * (migrate, retention, verifying or listing the audit trail, a room's records) get `LONG_CALL_MS`.
 */
export interface StoreTimeouts {
  /** Deadline of each request-path call (store.callTimeoutMs). */
  readonly callTimeoutMs: number;
  /** SQLite only: how long a write waits for another connection's write lock (store.sqliteBusyTimeoutMs). */
  readonly sqliteBusyTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: StoreTimeouts = { callTimeoutMs: 2000, sqliteBusyTimeoutMs: 250 };

/** Deadline of the maintenance calls. */
export const LONG_CALL_MS = 60_000;

/** Deadline of the readiness probe (at most callTimeoutMs): a readiness check answers within it. */
export const PROBE_TIMEOUT_MS = 1000;

/** A readiness probe's result is shared by the calls within this long (a load balancer polling /readyz does not cost a write each). */
export const PROBE_REUSE_MS = 1000;

/** After a call got no answer in time, the store is tried again (one call let through) at most this often until it answers. */
export const RETRY_GAP_MS = 1000;

/**
 * A store failure the caller can act on: the store is unreachable, hung, locked or cannot write.
 * `cause` is the driver's error; `noAnswer`: the store did not answer in time (see Liveness).
 */
export function storeUnavailable(reason: string, cause?: unknown, noAnswer = false): SfuError {
  const e = new SfuError('STORE_UNAVAILABLE', reason);
  if (cause !== undefined) Object.defineProperty(e, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  if (noAnswer) Object.defineProperty(e, 'noAnswer', { value: true, enumerable: true });
  return e;
}

/** Whether an error says the store did not answer in time (a hung or unreachable server, a stuck thread). */
export function isNoAnswer(err: unknown): boolean {
  return isStoreUnavailable(err) && (err as { noAnswer?: boolean }).noAnswer === true;
}

/**
 * Fail fast while the store does not answer. Once a call got no answer within its deadline, the
 * store counts as hung until something answers again: meanwhile one call at a time, and at most one
 * every RETRY_GAP_MS, is let through to find out (a trial, with its normal deadline); every other
 * call fails at once with STORE_UNAVAILABLE. So a hung database costs each caller at most one
 * deadline, not one per call (a refused join's audit entry after its admission timed out, panic
 * writes, readiness probes), and does not pile up waiting calls. Errors that come back fast (disk
 * full, connection refused, SQLITE_BUSY) count as answers: they need no such gate.
 */
export class Liveness {
  /** performance.now() since when no call has answered, or undefined while the store answers. */
  #silentSince: number | undefined;
  #reason = '';
  #trialRunning = false;
  #lastTrialEnd = 0;

  /** Whether a call may go to the store now; `trial` when it is the one let through while the store is silent. */
  enter(): { trial: boolean } | SfuError {
    if (this.#silentSince === undefined) return { trial: false };
    const now = performance.now();
    if (this.#trialRunning || now - this.#lastTrialEnd < RETRY_GAP_MS) {
      return storeUnavailable(`${this.#reason}; no answer for ${Math.round((now - this.#silentSince) / 100) / 10} s, calls fail at once until it answers`, undefined, true);
    }
    this.#trialRunning = true;
    return { trial: true };
  }

  /** A call ended: `noAnswer` when it got no answer within its deadline (its error's message becomes the reason given). */
  leave(trial: boolean, outcome: { noAnswer: false } | { noAnswer: true; reason: string }): void {
    if (trial) {
      this.#trialRunning = false;
      this.#lastTrialEnd = performance.now();
    }
    if (outcome.noAnswer) {
      this.#silentSince ??= performance.now();
      this.#lastTrialEnd = performance.now();
      this.#reason = outcome.reason;
    } else {
      this.#silentSince = undefined;
    }
  }

  /** Something answered (e.g. a late answer to a call that had timed out). */
  heard(): void {
    this.#silentSince = undefined;
  }
}

export function isStoreUnavailable(err: unknown): err is SfuError {
  return err instanceof SfuError && err.code === 'STORE_UNAVAILABLE';
}

/**
 * `promise`, or STORE_UNAVAILABLE once `ms` have passed. The operation itself is not cancelled
 * here: each adapter bounds what it leaves running (docs/records.md, "Store deadlines").
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const r = await within(promise, ms);
  if (!r.settled) throw storeUnavailable(`${what} did not answer within ${ms} ms`, undefined, true);
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * One readiness probe at a time, its result reused for PROBE_REUSE_MS: concurrent /readyz
 * requests share one write, and a load balancer polling fast does not turn into a write per poll.
 */
export function sharedProbe(probe: () => Promise<void>): () => Promise<boolean> {
  let last: { at: number; result: Promise<void> } | undefined;
  return () => {
    const now = performance.now();
    if (!last || now - last.at >= PROBE_REUSE_MS) {
      const result = probe();
      const entry = { at: Number.POSITIVE_INFINITY, result };
      last = entry;
      // Reused while it runs, then for PROBE_REUSE_MS after it settled.
      const settle = () => { entry.at = performance.now(); };
      result.then(settle, settle);
    }
    return last.result.then(() => true);
  };
}
