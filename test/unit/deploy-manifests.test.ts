import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../../src/config/env.ts';

// No YAML parser is among the dependencies: the manifests are read as text, with patterns that
// fit how deploy/kubernetes/*.yaml is written (one `key: value` a line, flow maps for short items).
const dir = new URL('../../deploy/kubernetes/', import.meta.url);
const manifests = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const text = (f: string) => readFileSync(new URL(f, dir), 'utf8');
const scaling = readFileSync(new URL('../../docs/scaling.md', import.meta.url), 'utf8');
const loader = readFileSync(new URL('../../src/config/load.ts', import.meta.url), 'utf8');
const health = readFileSync(new URL('../../src/http/health.ts', import.meta.url), 'utf8');
const sts = text('statefulset.yaml');

/** Every SFU_* name in a text (comments included). */
const sfuNames = (s: string) => [...new Set(s.match(/\bSFU_[A-Z0-9_]+\b/g) ?? [])];
/** Variables the config loader reads: ENV_VARS, and SFU_CONFIG (the file merged over the defaults). */
const known = (name: string) => name in ENV_VARS || (name === 'SFU_CONFIG' && loader.includes('env.SFU_CONFIG'));
/** The literal value of an env entry `- name: X` (a comment may follow) / `value: "..."` in the StatefulSet. */
const envValue = (name: string) => sts.match(new RegExp(`- name: ${name}\\b[^\\n]*\\n\\s*value: "?([^"\\n]+)"?`))?.[1];
/** The number right after `key:` (first occurrence at or after `from`). */
const numberAfter = (s: string, key: string, from = 0) => Number(s.slice(from).match(new RegExp(`${key}:\\s*(\\d+)`))?.[1]);
/** The `path:` of a probe block. */
const probePath = (probe: string) => sts.slice(sts.indexOf(`${probe}:`)).match(/path:\s*([^\s,}]+)/)?.[1];

describe('deploy/kubernetes and docs/scaling.md against the code', () => {
  it('name only SFU_* variables that src/config/env.ts defines', () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const f of manifests) expect(sfuNames(text(f)).filter((n) => !known(n)), f).toEqual([]);
    expect(sfuNames(scaling).filter((n) => !known(n)), 'docs/scaling.md').toEqual([]);
    expect(sfuNames(sts)).toEqual(expect.arrayContaining(['SFU_NODE_ID', 'SFU_CLUSTER_PUBLIC_URL', 'SFU_ANNOUNCED_IP', 'SFU_REDIS_URL', 'SFU_STORE_URL', 'SFU_RECORDS_KEYS']));
  });

  it('probe /readyz for readiness and /healthz for liveness, both served by src/http/health.ts', () => {
    expect(probePath('readinessProbe')).toBe('/readyz');
    expect(probePath('livenessProbe')).toBe('/healthz');
    expect(health).toContain("app.get('/readyz'");
    expect(health).toContain("app.get('/healthz'");
  });

  it('declare one UDP and one TCP port per worker from SFU_RTC_PORT, and the HTTP port', () => {
    const workers = Number(envValue('SFU_WORKERS'));
    const base = Number(envValue('SFU_RTC_PORT'));
    expect(workers).toBeGreaterThan(0);
    const ports = [...sts.matchAll(/containerPort: (\d+), protocol: (UDP|TCP)/g)].map((m) => `${m[1]}/${m[2]}`);
    const rtc = Array.from({ length: workers }, (_, i) => [`${base + i}/UDP`, `${base + i}/TCP`]).flat();
    expect(ports.sort()).toEqual([`${envValue('SFU_HTTP_PORT')}/TCP`, ...rtc].sort());
  });

  it('give the drain its time: terminationGracePeriodSeconds >= drain timeout + 10 s + the preStop sleep', () => {
    const drain = Number(envValue('SFU_DRAIN_TIMEOUT_SECONDS'));
    const preStop = Number(sts.match(/command: \["sleep", "(\d+)"\]/)?.[1] ?? 0);
    expect(drain).toBeGreaterThan(0);
    expect(numberAfter(sts, 'terminationGracePeriodSeconds')).toBeGreaterThanOrEqual(drain + 10 + preStop);
  });

  it('have a Service (ready or not) and an Ingress host for every replica', () => {
    const replicas = numberAfter(sts, 'replicas');
    const services = text('services.yaml');
    const ingress = text('ingress.yaml');
    expect(replicas).toBeGreaterThan(0);
    for (let i = 0; i < replicas; i++) {
      const at = services.indexOf(`name: sfu-${i}\n`);
      expect(at, `Service sfu-${i}`).toBeGreaterThan(0);
      expect(services.slice(at, at + 300)).toContain('publishNotReadyAddresses: true');
      expect(ingress).toContain(`host: sfu-${i}.sfu.example.org`);
    }
    expect(services).not.toContain(`name: sfu-${replicas}\n`);
    expect(envValue('SFU_CLUSTER_PUBLIC_URL')).toBe('https://$(POD_NAME).sfu.example.org');
  });

  it('are each described in docs/scaling.md, which creates every Secret key the StatefulSet reads', () => {
    for (const f of manifests) expect(scaling, f).toContain(`\`${f}\``);
    const keys = [...sts.matchAll(/secretKeyRef: \{ name: sfu-secrets, key: ([a-z-]+)/g)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(scaling, k).toMatch(new RegExp(`--from-(literal|file)=${k}=`));
  });
});
