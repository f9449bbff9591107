/**
 * The admin API as `npm run admin` reaches it: the node's own address and the admin credential,
 * found the way the server finds them (config/default.json, the SFU_CONFIG file, SFU_* variables),
 * and one request function that turns the server's `{error: {code, message}}` into an AdminError.
 * The credential never leaves this module: it is not printed, logged or put in an error.
 */
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { existingAdminToken } from '../../src/config/secrets.ts';
import { baseUrl } from '../../src/auth/page-links.ts';

/** A refusal with a code: the server's, or the CLI's own (SERVER_UNREACHABLE, ADMIN_TOKEN_NOT_FOUND, ...). */
export class AdminError extends Error {
  readonly code: string;
  /** The HTTP status when the server answered. */
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number) {
    super(message);
    this.code = code;
    this.status = status;
    this.name = 'AdminError';
  }
}

export interface AdminApi {
  /** The node's address, e.g. http://127.0.0.1:3000 (no credential in it). */
  readonly url: string;
  request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

const REQUEST_TIMEOUT_MS = 15_000;

/**
 * `--url`, else http://<http.host>:<http.port> of the configuration (a wildcard
 * host as 127.0.0.1; never http.publicUrl: the proxy in front answers 404 for /admin). Throws a
 * ConfigError (ADMIN_TOKEN_NOT_FOUND, CONFIG_INVALID, ...) when the configuration has no credential.
 */
export function adminApi(opts: { url?: string | undefined }): AdminApi {
  const config = loadConfig();
  const token = existingAdminToken(config);
  const given = opts.url;
  if (given !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(given)) {
    throw new ConfigError([`--url must be the node's address, http(s)://host:port, got ${JSON.stringify(given)}`]);
  }
  const url = (given ?? baseUrl({ publicUrl: '', host: config.http.host }, config.http.port)).replace(/\/+$/, '');
  return {
    url,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${url}/admin${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new AdminError('SERVER_UNREACHABLE', `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        throw new AdminError('BAD_RESPONSE', `${method} /admin${path}: HTTP ${res.status} with a body that is not JSON (is ${url} an SFU node?)`, res.status);
      }
      if (!res.ok) {
        const e = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        throw new AdminError(typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`, typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`, res.status);
      }
      return parsed as T;
    },
  };
}
