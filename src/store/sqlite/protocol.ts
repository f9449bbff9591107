import { storeUnavailable } from '../unavailable.ts';

/**
 * The messages between SqliteStore (main thread) and the store's worker thread (worker.ts).
 *
 * The worker handles one request at a time, in the order they were posted: a request sees the
 * effect of every request posted before it (whether or not its caller still waited for it). A
 * request whose deadline has passed before it starts is answered `expired` without running.
 */

/** workerData of the thread. The records keys travel here (copied into the thread); never log it. */
export interface WorkerInit {
  readonly file: string;
  readonly keys: readonly { readonly id: string; readonly key: Uint8Array }[];
  readonly busyTimeoutMs: number;
}

export interface WorkerRequest {
  readonly id: number;
  readonly op: string;
  readonly args: readonly unknown[];
  /** Date.now() by which the request must be done (threads share the clock). */
  readonly deadline: number;
}

/** An error as it crosses the thread boundary (structured clone keeps only name and message of an Error). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** node:sqlite errors: 'ERR_SQLITE_ERROR', with SQLite's (extended) result code and its text. */
  readonly code?: string | undefined;
  readonly errcode?: number | undefined;
  readonly errstr?: string | undefined;
  /** Set when the ROLLBACK after the failure failed too (the original error is this one). */
  readonly rollbackError?: string | undefined;
  /** The request's deadline had passed before it started: it did not run. */
  readonly expired?: boolean | undefined;
}

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly value: unknown; readonly head: number | undefined }
  | { readonly id: number; readonly ok: false; readonly error: WireError; readonly head: number | undefined };

export function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & { code?: unknown; errcode?: unknown; errstr?: unknown; rollbackError?: unknown; expired?: unknown };
  return {
    name: e.name, message: e.message, stack: e.stack, expired: e.expired === true ? true : undefined,
    code: typeof e.code === 'string' ? e.code : undefined,
    errcode: typeof e.errcode === 'number' ? e.errcode : undefined,
    errstr: typeof e.errstr === 'string' ? e.errstr : undefined,
    rollbackError: typeof e.rollbackError === 'string' ? e.rollbackError : undefined,
  };
}

/** SQLite's primary result codes that mean "cannot read or write now", not "this request is wrong". */
const UNAVAILABLE: Record<number, string> = {
  5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED', 7: 'SQLITE_NOMEM', 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL', 26: 'SQLITE_NOTADB',
};

/**
 * The error the caller gets: the original (same message, SQLite's code and errcode kept), wrapped
 * in STORE_UNAVAILABLE with a short reason (shown by /readyz) when the database cannot take
 * requests now: locked by another process, disk full, I/O error, unreadable file.
 */
export function fromWire(w: WireError, busyTimeoutMs: number): Error {
  const original = Object.assign(new Error(w.message), {
    name: w.name,
    ...(w.stack ? { stack: w.stack } : {}),
    ...(w.code !== undefined ? { code: w.code } : {}),
    ...(w.errcode !== undefined ? { errcode: w.errcode } : {}),
    ...(w.errstr !== undefined ? { errstr: w.errstr } : {}),
    ...(w.rollbackError !== undefined ? { rollbackError: w.rollbackError } : {}),
  });
  if (w.expired) return storeUnavailable(w.message, undefined, true);
  if (w.errcode === undefined) return original;
  const name = UNAVAILABLE[w.errcode & 0xff];
  if (!name) return original;
  const what = w.errstr ?? w.message;
  const reason = name === 'SQLITE_BUSY' || name === 'SQLITE_LOCKED'
    ? `the SQLite records database is locked by another connection (${name}; a write waits for it at most ${busyTimeoutMs} ms)`
    : `the SQLite records database cannot be written: ${what} (${name})`;
  return storeUnavailable(reason, original);
}
