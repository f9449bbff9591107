import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from './debian-package.ts';
import { freePort } from './free-port.ts';
import { startAndWait } from './child.ts';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';
/** deploy/prometheus/: the configuration, rules and rule tests operators install. */
export const RULES_DIR = new URL('../../deploy/prometheus/', import.meta.url);
export const RULE_FILES = ['recording-rules.yml', 'alert-rules.yml'] as const;

/** promtool and prometheus (Debian's `prometheus` package), installed with apt-get when missing and root; false after a loud warning otherwise. */
export function havePrometheus(suite: string): boolean {
  return ensureDebianPackage('prometheus', PROMTOOL_BIN, suite) && ensureDebianPackage('prometheus', PROMETHEUS_BIN, suite);
}

/** Runs promtool with `args` in deploy/prometheus/ (bounded: 60 s). */
export function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL_BIN, args, { cwd: RULES_DIR.pathname, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.error?.message ?? ''}${r.stdout}${r.stderr}` };
}

/** One answer of Prometheus's HTTP API (`/api/v1/...`): status, data, error. */
export interface ApiAnswer<T> { status: 'success' | 'error'; data: T; errorType?: string; error?: string }
export interface Sample { metric: Record<string, string>; value: [number, string] }

export interface TestPrometheus {
  readonly url: string;
  /** GET /api/v1/<path> with query parameters (bounded: 10 s). */
  api<T>(path: string, params?: Record<string, string>): Promise<ApiAnswer<T>>;
  /** An instant query now. */
  query(expr: string): Promise<ApiAnswer<{ resultType: string; result: Sample[] }>>;
  log(): string;
  stop(): Promise<void>;
}

/** deploy/prometheus/prometheus.yml with `target` as the only scrape target and `interval` for scrapes and rule evaluation. */
export function prometheusConfig(target: string, interval: string): string {
  let conf = readFileSync(new URL('prometheus.yml', RULES_DIR), 'utf8');
  const replace = (from: RegExp, to: string) => {
    const matches = conf.match(new RegExp(from.source, 'gm'));
    if (matches?.length !== 1) throw new Error(`deploy/prometheus/prometheus.yml: expected exactly one match of ${from}`);
    conf = conf.replace(new RegExp(from.source, 'm'), to);
  };
  replace(/^ {2}scrape_interval: .*$/, `  scrape_interval: ${interval}`);
  replace(/^ {2}evaluation_interval: .*$/, `  evaluation_interval: ${interval}`);
  replace(/- targets: \['127\.0\.0\.1:3000'\].*$/, `- targets: ['${target}']`);
  return conf;
}

/**
 * Debian's Prometheus on a free 127.0.0.1 port, a child of this process: deploy/prometheus/
 * prometheus.yml scraping `target` (host:port) every `interval`, with the rule files, TSDB in a
 * temp dir. Installed with apt-get when missing and root; undefined after a loud warning when it
 * cannot be installed; throws when it is installed but does not start (e.g. it refuses a rule file).
 */
export async function startPrometheus(target: string, suite: string, interval = '1s'): Promise<TestPrometheus | undefined> {
  if (!havePrometheus(suite)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sfu-prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(target, interval));
  for (const f of RULE_FILES) copyFileSync(new URL(f, RULES_DIR), join(dir, f));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prometheus = await startAndWait(PROMETHEUS_BIN, [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], {
    dir,
    // Installed but not starting is a failure (a rule file it refuses, a configuration error), not a skip: startAndWait throws.
    ready: () => fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false),
    what: 'Prometheus to be ready',
    timeoutMs: 30_000,
    // Prometheus writes a last block on SIGTERM; bounded, then killed.
    killAfterMs: 10_000,
  });
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<ApiAnswer<T>> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(10_000) });
    return await res.json() as ApiAnswer<T>;
  };
  return {
    url,
    api,
    query: (expr) => api('query', { query: expr }),
    log: () => prometheus.output(),
    stop: () => prometheus.stop(),
  };
}
