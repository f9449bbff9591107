import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { ENV_VARS } from '../../src/config/env.ts';

describe('loadConfig', () => {
  it('loads the defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.http.port).toBe(3000);
    expect(c.signalling.reconnectGraceSeconds).toBe(30);
    expect(Object.isFrozen(c.http)).toBe(true);
  });

  it('applies SFU_* environment overrides', () => {
    const c = loadConfig({ env: { SFU_HTTP_PORT: '4000', SFU_WORKERS: '2', SFU_ANNOUNCED_IP: '203.0.113.7', SFU_JWT_ISSUER: 'district' } });
    expect(c.http.port).toBe(4000);
    expect(c.media.workers).toBe(2);
    expect(c.media.announcedIp).toBe('203.0.113.7');
    expect(c.jwt.issuer).toBe('district');
  });

  it('names every bad value', () => {
    try {
      loadConfig({ env: { SFU_HTTP_PORT: 'eighty', SFU_WORKERS: '-1' } });
      throw new Error('expected ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).toContain('SFU_HTTP_PORT must be an integer');
    }
    expect(() => loadConfig({ env: { SFU_WORKERS: '-1' } })).toThrow(/media\.workers/);
  });

  it('is a single node without Redis by default; SFU_REDIS_URL and SFU_NODE_ID make it one of several', () => {
    const single = loadConfig({ env: {} });
    expect(single.cluster).toEqual({
      redisUrl: '', nodeId: '', redisCallTimeoutMs: 500, redisConnectTimeoutMs: 2000, redisProbeIntervalMs: 1000, redisKeyPrefix: 'sfu:',
      publicUrl: '', presenceIntervalMs: 1000, presenceTtlMs: 4000, placementLeaseMs: 10000, escalationLeaseMs: 3000,
    });
    const c = loadConfig({ env: {
      SFU_REDIS_URL: 'rediss://sfu:s3cret@redis.internal:6380/2', SFU_NODE_ID: 'sfu-1', SFU_REDIS_CALL_TIMEOUT_MS: '250',
      SFU_CLUSTER_PUBLIC_URL: 'https://node-a.example',
    } });
    expect(c.cluster).toMatchObject({ redisUrl: 'rediss://sfu:s3cret@redis.internal:6380/2', nodeId: 'sfu-1', redisCallTimeoutMs: 250, publicUrl: 'https://node-a.example' });
    expect(() => loadConfig({ env: { SFU_REDIS_URL: 'http://redis:6379' } })).toThrow(/cluster\.redisUrl/);
    expect(() => loadConfig({ env: { SFU_NODE_ID: 'node 1' } })).toThrow(/cluster\.nodeId/);
    expect(() => loadConfig({ env: { SFU_REDIS_CALL_TIMEOUT_MS: '0' } })).toThrow(/cluster\.redisCallTimeoutMs/);
    // A refused URL is named by its setting, never printed (it may hold a password).
    try {
      loadConfig({ env: { SFU_REDIS_URL: 'redis://:hunter2-password@redis:6379 trailing' } });
      throw new Error('expected ConfigError');
    } catch (err) {
      expect((err as ConfigError).message).not.toContain('hunter2-password');
    }
  });

  it('requires cluster.publicUrl with Redis (where other nodes send this node\'s rooms\' joins) and sane presence timings', () => {
    expect(() => loadConfig({ env: { SFU_REDIS_URL: 'redis://redis:6379' } })).toThrow(/cluster\.publicUrl is required when cluster\.redisUrl is set/);
    expect(() => loadConfig({ env: { SFU_REDIS_URL: 'redis://redis:6379', SFU_CLUSTER_PUBLIC_URL: 'wss://node-a.example' } })).toThrow(/cluster\.publicUrl/);
    expect(() => loadConfig({ env: { SFU_REDIS_URL: 'redis://redis:6379', SFU_CLUSTER_PUBLIC_URL: 'https://node-a.example/rtc' } })).toThrow(/cluster\.publicUrl/);
    const base = { SFU_REDIS_URL: 'redis://redis:6379', SFU_CLUSTER_PUBLIC_URL: 'http://127.0.0.1:8443' };
    expect(loadConfig({ env: base }).cluster.publicUrl).toBe('http://127.0.0.1:8443');
    expect(() => loadConfig({ env: { ...base, SFU_PRESENCE_TTL_MS: '1500' } })).toThrow(/presenceTtlMs .* at least twice/);
    expect(() => loadConfig({ env: { ...base, SFU_PLACEMENT_LEASE_MS: '1500' } })).toThrow(/placementLeaseMs .* at least twice/);
    // Without Redis the cluster's settings are not required.
    expect(loadConfig({ env: {} }).cluster.publicUrl).toBe('');
  });

  it('takes http.trustProxy as addresses and CIDR ranges only', () => {
    expect(loadConfig({ env: {} }).http.trustProxy).toEqual([]);
    expect(loadConfig({ env: { SFU_HTTP_TRUST_PROXY: '127.0.0.1, 10.0.0.0/24,fd00::/64,::1' } }).http.trustProxy)
      .toEqual(['127.0.0.1', '10.0.0.0/24', 'fd00::/64', '::1']);
    for (const bad of ['loopback', '10.0.0.0/33', 'fd00::/129', '10.0.0.1/8/1', '10.0.0.0/', '*']) {
      expect(() => loadConfig({ env: { SFU_HTTP_TRUST_PROXY: bad } }), bad).toThrow(/http\.trustProxy\[0\] .* is not an IP address or CIDR range/);
    }
  });

  it('rejects unknown keys and short secrets', () => {
    expect(() => loadConfig({ env: {}, overrides: { http: { prot: 1 } } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { SFU_JWT_SECRET: 'short' } })).toThrow(/at least 32/);
    expect(() => loadConfig({ env: { SFU_ADMIN_TOKEN: 'short' } })).toThrow(/at least 16/);
  });

  it('documents every SFU_* variable and every setting in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const [name, { path }] of Object.entries(ENV_VARS)) {
      expect(doc, name).toContain(`\`${name}\``);
      expect(doc, path).toContain(`\`${path}\``);
    }
    const keys = (o: object, prefix = ''): string[] => Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === 'object' && !Array.isArray(v) ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]);
    for (const key of keys(loadConfig({ env: {} }))) expect(doc, key).toContain(`\`${key}\``);
  });
});
