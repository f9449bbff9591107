import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isServerVariable } from '../../src/config/env.ts';
import { loadConfig } from '../../src/config/load.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { ensureDebianPackage } from '../helpers/debian-package.ts';

/**
 * deploy/compose.yaml against the server: parsed by a real YAML parser (PyYAML, Debian's
 * python3-yaml: no YAML parser is among the npm dependencies), variables interpolated the way
 * Compose does with deploy/compose/env.example, then the SFU's environment loaded by the real
 * config loader with secrets made by deploy/compose/make-secrets.sh.
 */
const DEPLOY = join(import.meta.dirname, '../../deploy');
const defaults = JSON.parse(readFileSync(join(import.meta.dirname, '../../config/default.json'), 'utf8'));

function ensurePyYaml(): void {
  if (spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' }).status === 0) return;
  console.info('[test] installing Debian\'s python3-yaml with apt-get to parse deploy/compose.yaml');
  spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'python3-yaml'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' }).status !== 0) throw new Error('python3 with PyYAML is needed to parse deploy/compose.yaml (apt-get install python3-yaml)');
}

/** The YAML file as JSON, through PyYAML's safe loader. */
function parseYaml(file: string): any {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${file} does not parse:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** KEY=value lines. */
const envFile = (text: string) => Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

/** Compose's interpolation: ${X}, ${X:-default}, ${X:?error}, and $$ for a literal $. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (m, name?: string, op?: string, arg?: string) => {
    if (m === '$$') return '$';
    const v = vars[name!];
    if (v) return v;
    if (op === '-') return arg!;
    throw new Error(`${name} is required: ${arg ?? ''}`);
  });
}


let compose: any;
let vars: Record<string, string>;
let sfuEnv: Record<string, string>;
let secretsDir: string;
beforeAll(() => {
  ensurePyYaml();
  compose = parseYaml(join(DEPLOY, 'compose.yaml'));
  vars = envFile(readFileSync(join(DEPLOY, 'compose/env.example'), 'utf8'));
  sfuEnv = Object.fromEntries(Object.entries(compose.services.sfu.environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v), vars)]));
  secretsDir = mkdtempSync(join(tmpdir(), 'sfu-compose-'));
  const r = spawnSync('sh', [join(DEPLOY, 'compose/make-secrets.sh')], { cwd: secretsDir, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`make-secrets.sh failed:\n${r.stderr}`);
});
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

describe('deploy/compose.yaml (a single box)', () => {
  it('passes Compose\'s own schema check (Debian\'s docker-compose: `config`, with env.example)', () => {
    if (!ensureDebianPackage('docker-compose', '/usr/bin/docker-compose', 'the compose schema check')) return;
    const r = spawnSync('docker-compose', ['-f', 'compose.yaml', '--env-file', 'compose/env.example', 'config', '-q'], { cwd: DEPLOY, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}${r.error?.message ?? ''}`).toBe(0);
  }, 600_000);

  it('runs the SFU, coturn, PostgreSQL and Prometheus, each with a health check and a restart policy', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['coturn', 'postgres', 'prometheus', 'sfu']);
    for (const [name, s] of Object.entries<any>(compose.services)) {
      expect(s.healthcheck?.test?.[0], name).toBe('CMD');
      expect(s.restart, name).toBe('unless-stopped');
    }
    // Media announces the host's address and its own port numbers: host networking, no port mapping.
    for (const name of ['sfu', 'coturn']) {
      expect(compose.services[name].network_mode, name).toBe('host');
      expect(compose.services[name].ports, name).toBeUndefined();
    }
    expect(compose.services.sfu.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(existsSync(join(DEPLOY, '..', 'Dockerfile'))).toBe(true);
    expect(compose.services.sfu.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('names only variables the server reads, and gives secrets as files', () => {
    const names = Object.keys(sfuEnv);
    expect(names.filter((n) => !isServerVariable(n))).toEqual([]);
    expect(sfuEnv.SFU_MODE).toBe('production');
    // No secret value in the environment: each comes from a mounted secret file.
    for (const name of ['SFU_JWT_SECRET', 'SFU_ADMIN_TOKEN', 'SFU_TURN_SECRET', 'SFU_STORE_URL', 'SFU_RECORDS_KEYS']) {
      expect(names, name).not.toContain(name);
      expect(sfuEnv[`${name}_FILE`], name).toMatch(/^\/run\/secrets\//);
    }
    const mounted = (compose.services.sfu.secrets as string[]).map((s) => `/run/secrets/${s}`);
    const fileVars = names.filter((n) => n.endsWith('_FILE')).map((n) => sfuEnv[n]);
    expect(mounted.sort()).toEqual(fileVars.sort());
    for (const s of [...compose.services.sfu.secrets, ...compose.services.coturn.secrets, ...compose.services.postgres.secrets]) {
      expect(compose.secrets[s]?.file, s).toBe(`./secrets/${s}`);
    }
  });

  it('is a configuration the server starts with in production (loaded by the real loader, secrets from make-secrets.sh)', () => {
    const env = Object.fromEntries(Object.entries(sfuEnv).map(([k, v]) => [k, v.startsWith('/run/secrets/') ? join(secretsDir, 'secrets', v.slice('/run/secrets/'.length)) : v]));
    const config = loadConfig({ env: { ...env, SFU_DATA_DIR: join(secretsDir, 'data') } });
    expect(config.mode).toBe('production');
    expect(config.store.url).toMatch(/^postgres:\/\/sfu:[^@]+@127\.0\.0\.1:5432\/sfu$/);
    expect(config.media.turn.urls).toEqual([`turn:${vars.PUBLIC_HOST}:3478?transport=udp`, `turn:${vars.PUBLIC_HOST}:3478?transport=tcp`]);
    const secrets = resolveSecrets(config);
    expect(secrets.generated).toEqual([]);
    expect(secrets.recordKeys.map((k) => k.id)).toEqual(['k1']);
  });

  it('agrees on ports: the HTTP port with the health check and Prometheus, media with the config defaults, TURN with coturn, PostgreSQL with the store URL', () => {
    const port = Number(sfuEnv.SFU_HTTP_PORT);
    expect(port).toBe(defaults.http.port);
    expect(Number(sfuEnv.SFU_RTC_PORT)).toBe(defaults.media.rtcPort);
    expect(sfuEnv.SFU_HTTP_HOST).toBe('127.0.0.1');
    expect(compose.services.sfu.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${port}/healthz`);
    // The drain fits in the grace period (plus the close's own deadlines, docs/operations.md).
    expect(Number.parseInt(compose.services.sfu.stop_grace_period, 10)).toBeGreaterThanOrEqual(Number(sfuEnv.SFU_DRAIN_TIMEOUT_SECONDS) + 7);

    const turn = readFileSync(join(DEPLOY, 'compose/turnserver.conf'), 'utf8');
    const setting = (k: string) => Number(new RegExp(`^${k}=(\\d+)`, 'm').exec(turn)?.[1]);
    expect(sfuEnv.SFU_TURN_URLS!.split(',').map((u) => Number(/:(\d+)\?/.exec(u)?.[1]))).toEqual([setting('listening-port'), setting('listening-port')]);
    // coturn's relay ports and the SFU's media ports (one per worker) do not overlap.
    const lastRtc = Number(sfuEnv.SFU_RTC_PORT) + Number(vars.SFU_WORKERS) - 1;
    expect(setting('min-port')).toBeGreaterThan(lastRtc);
    expect(setting('max-port')).toBeGreaterThanOrEqual(setting('min-port'));
    expect(turn).not.toMatch(/^static-auth-secret/m);

    expect(compose.services.postgres.ports).toEqual(['127.0.0.1:5432:5432']);
    expect(compose.services.postgres.environment).toMatchObject({ POSTGRES_USER: 'sfu', POSTGRES_DB: 'sfu', POSTGRES_PASSWORD_FILE: '/run/secrets/postgres-password' });
    expect(readFileSync(join(secretsDir, 'secrets/store-url'), 'utf8').trim())
      .toBe(`postgres://sfu:${readFileSync(join(secretsDir, 'secrets/postgres-password'), 'utf8').trim()}@127.0.0.1:5432/sfu`);
  });

  it('mounts deploy/prometheus/ into Prometheus, which scrapes the SFU\'s HTTP port', () => {
    expect(compose.services.prometheus.volumes).toContain('./prometheus:/etc/prometheus:ro');
    expect(compose.services.prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const prom = parseYaml(join(DEPLOY, 'prometheus/prometheus.yml'));
    // Its rule files sit beside it in the mounted directory.
    for (const f of prom.rule_files as string[]) expect(existsSync(join(DEPLOY, 'prometheus', f)), f).toBe(true);
    const targets = prom.scrape_configs.flatMap((j: any) => j.static_configs.flatMap((s: any) => s.targets));
    expect(targets).toContain(`127.0.0.1:${sfuEnv.SFU_HTTP_PORT}`);
  });
});
