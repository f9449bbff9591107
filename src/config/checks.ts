import { isIP } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from './schema.ts';
import { variableFor } from './env.ts';

/**
 * Checks of the merged configuration beyond its types, and the wording of every schema problem:
 * each names its setting and the variable that sets it, never the value (it may be a secret).
 */

/** Schema problems, the first `max`: `log.level (SFU_LOG_LEVEL): must be one of fatal, error, ...`. */
export function schemaProblems(tree: unknown, max = 20): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(ConfigSchema, tree)) {
    const path = e.path.slice(1).replaceAll('/', '.');
    if (seen.has(path)) continue; // one line per setting
    seen.add(path);
    out.push(`${named(path)}: ${describe(e.schema as Schemaish, e.message)}`);
    if (out.length >= max) break;
  }
  return out;
}

interface Schemaish { anyOf?: { const?: unknown }[] }

function named(path: string): string {
  if (!path) return '(root)';
  const variable = variableFor(path);
  return variable ? `${path} (${variable})` : path;
}

function describe(schema: Schemaish, message: string): string {
  const values = schema.anyOf?.map((s) => s.const);
  if (values && values.length > 0 && values.every((v) => typeof v === 'string')) return `must be one of ${values.join(', ')}`;
  return message;
}

/** A host name as DNS spells one (labels of letters, digits and hyphens), or an IP address. */
function isHostOrIp(s: string): boolean {
  return isIP(s) !== 0 || /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(s);
}

/** An http(s) URL without credentials (it is printed in banners and links). */
function isPlainHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && u.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * Addresses, ports and URLs that pass their types but cannot work: refused at start (exit 78) rather
 * than found at the first join (a browser told to send media to "not an ip", a worker on port 65536).
 */
export function settingProblems(cfg: Readonly<Config>): string[] {
  const problems: string[] = [];
  const { http, media, store } = cfg;
  if (!isHostOrIp(http.host)) problems.push('http.host (SFU_HTTP_HOST): must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0');
  if (http.publicUrl && !isPlainHttpUrl(http.publicUrl)) {
    problems.push('http.publicUrl (SFU_PUBLIC_URL): must be empty or an http:// or https:// URL without user or password, e.g. https://sfu.example.org');
  }
  if (isIP(media.listenIp) === 0) problems.push('media.listenIp (SFU_LISTEN_IP): must be an IP address of this host, e.g. 0.0.0.0, :: or 10.0.0.5');
  if (media.announcedIp && !isHostOrIp(media.announcedIp)) {
    problems.push('media.announcedIp (SFU_ANNOUNCED_IP): must be empty, an IP address or a host name that clients can reach, e.g. 203.0.113.10');
  }
  if (media.rtcPort !== 0 && media.workers > 0 && media.rtcPort + media.workers - 1 > 65535) {
    problems.push(`media.rtcPort (SFU_RTC_PORT): worker i listens on rtcPort + i, so ${media.rtcPort} with ${media.workers} workers (media.workers, SFU_WORKERS) needs ports up to ${media.rtcPort + media.workers - 1}, beyond 65535`);
  }
  if (store.url !== '' && !/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(store.url)) {
    // Named by its setting only: a PostgreSQL URL carries a password.
    problems.push('store.url (SFU_STORE_URL): must be empty (SQLite in the data dir), sqlite:<file> or postgres://user:password@host:5432/db (the value is not shown: it may hold a password)');
  }
  cfg.safety.tiers.forEach((tier, i) => {
    const before = cfg.safety.tiers[i - 1];
    if (before && tier.afterSeconds < before.afterSeconds) {
      problems.push(`safety.tiers[${i}].afterSeconds (SFU_PANIC_TIERS): ${tier.afterSeconds} is earlier than tier ${i - 1}'s ${before.afterSeconds}: `
        + 'tiers escalate in order, each at raisedAt + afterSeconds, so afterSeconds must not decrease from one tier to the next');
    }
  });
  return problems;
}
