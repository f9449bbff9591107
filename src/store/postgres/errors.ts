import pg from 'pg';
import { storeUnavailable } from '../unavailable.ts';

/** SQLSTATE classes and codes that mean "the server cannot take requests now", not "this request is wrong". */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57']);
const UNAVAILABLE_CODES = new Set(['25006', '40P01', '55P03', '58030']);

/** Socket errors of the driver (no SQLSTATE). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE']);

/**
 * True when the client's connection can no longer be trusted: the driver timed out waiting for an
 * answer (the server may still be running the statement), or the connection broke. Such a client
 * is discarded, never sent a ROLLBACK: closing it ends its transaction on the server.
 */
export function connectionLost(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return false;
  const e = err as { message?: unknown; code?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : '';
  return msg === 'Query read timeout' || /Connection terminated|not queryable|connection timeout/i.test(msg)
    || (typeof e?.code === 'string' && SOCKET_CODES.has(e.code));
}

/**
 * The error the caller gets: STORE_UNAVAILABLE, with a short reason for /readyz and the driver's
 * error as its cause, when the server is unreachable, hung, shutting down, out of resources or
 * read-only, or a statement ran past its timeout; any other error unchanged. Reasons name no host.
 */
export function classifyPostgresError(err: unknown, timeouts: { callTimeoutMs: number }): unknown {
  const e = err as { message?: unknown; code?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : '';
  const code = typeof e?.code === 'string' ? e.code : '';
  if (err instanceof pg.DatabaseError) {
    if (code === '57014') return storeUnavailable(`PostgreSQL cancelled a statement that ran past its timeout (${code})`, err);
    if (UNAVAILABLE_CLASSES.has(code.slice(0, 2)) || UNAVAILABLE_CODES.has(code)) return storeUnavailable(`PostgreSQL: ${msg} (${code})`, err);
    return err;
  }
  if (msg === 'Query read timeout') return storeUnavailable(`PostgreSQL did not answer a query in time (hung or unreachable; callTimeoutMs ${timeouts.callTimeoutMs})`, err, true);
  if (/timeout exceeded when trying to connect|connection timeout/i.test(msg)) {
    return storeUnavailable(`no PostgreSQL connection within ${timeouts.callTimeoutMs} ms (server hung, unreachable or every connection busy)`, err, true);
  }
  if (SOCKET_CODES.has(code)) return storeUnavailable(`PostgreSQL connection failed (${code})`, err);
  if (/Connection terminated|not queryable/i.test(msg)) return storeUnavailable('the PostgreSQL connection was lost', err);
  return err;
}
