import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from './schema.ts';
import { ENV_VARS, FILE_VARS, parseEnvValue } from './env.ts';
import { schemaProblems, settingProblems } from './checks.ts';
import { ESCALATION_TARGET_UNKNOWN, unconfiguredProblems, unconfiguredTargets } from './escalation-targets.ts';

export type { Config } from './schema.ts';

const DEFAULT_FILE = fileURLToPath(new URL('../../config/default.json', import.meta.url));

export class ConfigError extends Error {
  readonly problems: string[];
  /** `CONFIG_INVALID`, or a more precise code (`ESCALATION_TARGET_UNKNOWN`, `JWT_SECRET_NOT_FOUND`, `JWT_SECRET_REQUIRED`): docs/configuration.md, "Validation". */
  readonly code: string;

  constructor(problems: string[], code = 'CONFIG_INVALID') {
    super(`invalid configuration${code === 'CONFIG_INVALID' ? '' : ` (${code})`}:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
    this.code = code;
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? merge(b, v) : v;
  }
  return out;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (!isTree(next)) node[k] = {};
    node = node[k] as Tree;
  }
  node[keys.at(-1)!] = value;
}

function readJson(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error, which may be a secret of the file: say where, never what.
    throw new ConfigError([`${file} is not valid JSON${jsonErrorPlace(text, (err as Error).message)} (its contents are not shown: they may hold secrets)`]);
  }
  if (!isTree(parsed)) throw new ConfigError([`${file} must hold a JSON object`]);
  return parsed;
}

/** ` at line L, column C` of a JSON.parse error, when its message gives a position. */
function jsonErrorPlace(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

/**
 * The values of FILE_VARS given as `<NAME>_FILE` (a path): each file read and trimmed. Problems
 * name the variable and the path, never the contents.
 */
function readFileVars(env: NodeJS.ProcessEnv, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FILE_VARS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) {
      problems.push(`${name} and ${name}_FILE are both set: set one`);
      continue;
    }
    try {
      out[name] = readFileSync(file, 'utf8').trim();
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      continue;
    }
    if (out[name] === '') problems.push(`${name}_FILE: ${file} is empty`);
  }
  return out;
}

export interface LoadOptions {
  /** Environment to read SFU_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Extra file merged over the defaults (default $SFU_CONFIG). */
  file?: string;
  /** Programmatic overrides merged last (tests). */
  overrides?: Tree;
}

/**
 * Loads config/default.json, then the file named by SFU_CONFIG, then SFU_* variables,
 * then overrides; validates the result and returns it frozen.
 */
export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  let tree = readJson(DEFAULT_FILE);
  const file = opts.file ?? env.SFU_CONFIG;
  const fromFile = file ? readJson(file) : undefined;
  if (fromFile) tree = merge(tree, fromFile);
  // Tiers the operator set (not the built-in defaults) must name only configured webhooks.
  const setsTiers = (t: Tree | undefined) => isTree(t?.safety) && t.safety.tiers !== undefined;
  const tiersConfigured = setsTiers(fromFile) || Boolean(env.SFU_PANIC_TIERS) || setsTiers(opts.overrides);

  const problems: string[] = [];
  const fromFiles = readFileVars(env, problems);
  for (const [name, { path, kind }] of Object.entries(ENV_VARS)) {
    const raw = env[name] || fromFiles[name];
    if (raw === undefined || raw === '') continue;
    try {
      setPath(tree, path, parseEnvValue(name, kind, raw));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (opts.overrides) tree = merge(tree, opts.overrides);
  if (problems.length > 0) throw new ConfigError(problems);

  if (!Value.Check(ConfigSchema, tree)) throw new ConfigError(schemaProblems(tree));
  const cfg = tree as Config;
  if (cfg.jwt.secret && cfg.jwt.publicKey) {
    throw new ConfigError(['jwt.secret and jwt.publicKey are exclusive: configure one (SFU_JWT_SECRET or SFU_JWT_PUBLIC_KEY)']);
  }
  if (cfg.admin.token && cfg.admin.token.length < 16) {
    throw new ConfigError(['admin.token must be at least 16 characters']);
  }
  if (cfg.jwt.secret && cfg.jwt.secret.length < 32) {
    throw new ConfigError(['jwt.secret must be at least 32 characters']);
  }
  const proxies = cfg.http.trustProxy.flatMap((p, i) => isAddressOrCidr(p) ? [] : [
    `http.trustProxy[${i}] (${JSON.stringify(p)}) is not an IP address or CIDR range (e.g. 10.0.0.5, 10.0.0.0/24, fd00::/64) (SFU_HTTP_TRUST_PROXY)`]);
  if (proxies.length > 0) throw new ConfigError(proxies);
  const settings = settingProblems(cfg);
  if (settings.length > 0) throw new ConfigError(settings);
  const turn = turnProblems(cfg.media.turn);
  if (turn.length > 0) throw new ConfigError(turn);
  const c = cfg.cluster;
  if (c.redisUrl && !c.publicUrl) {
    throw new ConfigError(['cluster.publicUrl is required when cluster.redisUrl is set: the URL clients use to reach this node directly, e.g. https://node-a.example (SFU_CLUSTER_PUBLIC_URL)']);
  }
  if (c.presenceTtlMs < 2 * c.presenceIntervalMs) {
    throw new ConfigError([`cluster.presenceTtlMs (${c.presenceTtlMs}) must be at least twice cluster.presenceIntervalMs (${c.presenceIntervalMs}): one late renewal must not make a node look dead`]);
  }
  if (c.placementLeaseMs < 2 * c.presenceIntervalMs) {
    throw new ConfigError([`cluster.placementLeaseMs (${c.placementLeaseMs}) must be at least twice cluster.presenceIntervalMs (${c.presenceIntervalMs}): a room's lease is renewed every interval`]);
  }
  if (c.escalationLeaseMs < 2 * c.presenceIntervalMs) {
    throw new ConfigError([`cluster.escalationLeaseMs (${c.escalationLeaseMs}) must be at least twice cluster.presenceIntervalMs (${c.presenceIntervalMs}): an incident's escalation lease is renewed every interval`]);
  }
  const unknownTargets = unconfiguredTargets(cfg.safety);
  if (tiersConfigured && unknownTargets.length > 0) throw new ConfigError(unconfiguredProblems(unknownTargets), ESCALATION_TARGET_UNKNOWN);
  return deepFreeze(cfg);
}

/** An IPv4 or IPv6 address, optionally with a prefix length within its family's bits. */
function isAddressOrCidr(s: string): boolean {
  const [address = '', prefix, ...rest] = s.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** RFC 7065 TURN URIs without user info or path: turn:host[:port][?transport=udp|tcp], turns:host[:port][?transport=tcp]. */
const TURN_URL = /^(turn:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?|turns:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=tcp)?)$/;

/** media.turn: URLs of the right scheme, and a secret long enough; each problem names its setting, never the secret's value. */
function turnProblems(turn: Config['media']['turn']): string[] {
  if (turn.urls.length === 0) {
    return turn.secret ? ['media.turn.secret is set but media.turn.urls is empty: give the turn:/turns: URLs of the coturn servers (SFU_TURN_URLS)'] : [];
  }
  // Named by position, not echoed: a mistyped URL could carry credentials (turn:user:pass@host).
  const problems = turn.urls.flatMap((url, i) => TURN_URL.test(url) ? [] : [
    `media.turn.urls[${i}] is not a turn: or turns: URL (turn:host[:port][?transport=udp|tcp], turns:host[:port][?transport=tcp]; STUN servers go in media.iceServers)`]);
  if (turn.secret.length < 32) problems.push('media.turn.secret must be at least 32 characters when media.turn.urls is set: coturn\'s static-auth-secret (SFU_TURN_SECRET)');
  return problems;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
