import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { unreadVariables } from '../../src/config/env.ts';

/** The problems of a refused configuration (fails the test when it loads). */
function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig({ env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const tmp = () => mkdtempSync(join(tmpdir(), 'sfu-config-'));

describe('configuration refusals an operator can act on', () => {
  it('a malformed SFU_CONFIG file is named with the place of the error, never its contents', () => {
    const dir = tmp();
    const file = join(dir, 'sfu.json');
    writeFileSync(file, '{"jwt": {"secret": "supersecretvalue-0123456789abcdef0123"},\n "admin": {"token": admintoken-hunter2}}');
    const e = refusal({ SFU_CONFIG: file });
    expect(e.message).toContain(`${file} is not valid JSON`);
    expect(e.message).not.toMatch(/hunter2|admintoken|supersecret/);
    writeFileSync(file, '{"jwt": {"secret": "supersecretvalue-0123456789abcdef0123}}');
    const unterminated = refusal({ SFU_CONFIG: file });
    expect(unterminated.message).toMatch(/is not valid JSON at line 1, column \d+/);
    expect(unterminated.message).not.toContain('supersecret');
    expect(refusal({ SFU_CONFIG: join(dir, 'missing.json') }).message).toContain('(ENOENT)');
  });

  it('a schema problem names the setting and its variable, and the values an enumeration allows', () => {
    const e = refusal({ SFU_MODE: 'Production', SFU_LOG_LEVEL: 'loud', SFU_PANIC_WEBHOOKS: '[{"name":"p","url":"https://x","secret":"short-secret"}]' });
    expect(e.problems).toEqual([
      'mode (SFU_MODE): must be one of development, production',
      'log.level (SFU_LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent',
      'safety.webhooks.0.secret (SFU_PANIC_WEBHOOKS): Expected string length greater or equal to 16',
    ]);
    expect(e.message).not.toContain('short-secret');
    expect(refusal({ SFU_WORKERS: '300' }).problems).toEqual(['media.workers (SFU_WORKERS): Expected integer to be less or equal to 256']);
  });

  it('numbers are decimal, booleans true or false, and a JSON variable is never echoed', () => {
    expect(refusal({ SFU_DRAIN_TIMEOUT_SECONDS: '0x10' }).problems).toEqual(['SFU_DRAIN_TIMEOUT_SECONDS must be a number, got "0x10"']);
    expect(refusal({ SFU_DRAIN_TIMEOUT_SECONDS: 'Infinity' }).problems[0]).toContain('must be a number');
    expect(loadConfig({ env: { SFU_DRAIN_TIMEOUT_SECONDS: '2.5' } }).drain.timeoutSeconds).toBe(2.5);
    expect(refusal({ SFU_FRAME_RATE_FIRST: 'yes' }).problems).toEqual(['SFU_FRAME_RATE_FIRST must be true or false, got "yes"']);
    expect(loadConfig({ env: { SFU_FRAME_RATE_FIRST: 'TRUE' } }).media.frameRateFirst).toBe(true);
    expect(loadConfig({ env: { SFU_FRAME_RATE_FIRST: 'false' } }).media.frameRateFirst).toBe(false);
    const json = refusal({ SFU_RECORDS_KEYS: '[{"id":"a","key":"c2VjcmV0LWtleS1tYXRlcmlhbA=="' });
    expect(json.problems[0]).toMatch(/^SFU_RECORDS_KEYS must be JSON/);
    expect(json.message).not.toContain('c2VjcmV0');
  });

  it('addresses, URLs and ports that cannot work are refused at start, not at the first join', () => {
    expect(refusal({ SFU_ANNOUNCED_IP: 'not an ip' }).problems[0]).toMatch(/^media\.announcedIp \(SFU_ANNOUNCED_IP\)/);
    expect(refusal({ SFU_LISTEN_IP: 'eth0' }).problems[0]).toMatch(/^media\.listenIp \(SFU_LISTEN_IP\)/);
    expect(refusal({ SFU_HTTP_HOST: 'two words' }).problems[0]).toMatch(/^http\.host \(SFU_HTTP_HOST\)/);
    expect(refusal({ SFU_PUBLIC_URL: 'sfu.example.org' }).problems[0]).toMatch(/^http\.publicUrl \(SFU_PUBLIC_URL\)/);
    expect(refusal({ SFU_PUBLIC_URL: 'https://user:pw@sfu.example.org' }).message).not.toContain('pw@');
    expect(refusal({ SFU_RTC_PORT: '65535', SFU_WORKERS: '2' }).problems[0]).toContain('needs ports up to 65536, beyond 65535');
    const store = refusal({ SFU_STORE_URL: 'mysql://sfu:hunter2-password@db/sfu' });
    expect(store.problems[0]).toMatch(/^store\.url \(SFU_STORE_URL\)/);
    expect(store.message).not.toContain('hunter2');
    const ok = loadConfig({ env: {
      SFU_ANNOUNCED_IP: 'media.example.org', SFU_LISTEN_IP: '::', SFU_HTTP_HOST: 'localhost', SFU_PUBLIC_URL: 'https://sfu.example.org',
      SFU_RTC_PORT: '65534', SFU_WORKERS: '2', SFU_STORE_URL: 'postgres://sfu:pw@db:5432/sfu',
    } });
    expect(ok.media.announcedIp).toBe('media.example.org');
  });

  it('names the SFU_* variables nothing reads, with the one a typo was meant to be, and never their values', () => {
    expect(unreadVariables({
      SFU_WORKER: '4', SFU_HTTP_PROT: '80', SFU_SOMETHING: 'hunter2', SFU_WORKERS: '2', SFU_JWT_SECRET_FILE: '/run/s', SFU_CONFIG: 'x.json',
      SFU_CACHE_DIR: '/c', SFU_TEST_CONTAINER: '1', PATH: '/bin',
    })).toEqual([{ name: 'SFU_HTTP_PROT', suggestion: 'SFU_HTTP_PORT' }, { name: 'SFU_SOMETHING' }, { name: 'SFU_WORKER', suggestion: 'SFU_WORKERS' }]);
  });

  it('escalation tiers must run in order: a tier earlier than the one before it is refused', () => {
    const tiers = (...after: number[]) => JSON.stringify(after.map((afterSeconds) => ({ afterSeconds, notify: ['desk'] })));
    expect(refusal({ SFU_PANIC_TIERS: tiers(0, 60, 15) }).problems).toEqual([
      'safety.tiers[2].afterSeconds (SFU_PANIC_TIERS): 15 is earlier than tier 1\'s 60: tiers escalate in order, each at raisedAt + afterSeconds, so afterSeconds must not decrease from one tier to the next',
    ]);
    expect(loadConfig({ env: { SFU_PANIC_TIERS: tiers(0, 30, 30, 90) } }).safety.tiers).toHaveLength(4);
  });

  it('a refused key leaves the data dir as it was: nothing is generated before every configured key is checked', () => {
    const dataDir = join(tmp(), 'data');
    const config = loadConfig({ env: { SFU_DATA_DIR: dataDir, SFU_RECORDS_KEYS: '[{"id":"a","key":"bm90LTMyLWJ5dGVzLW9mLWtleS1tYXRlcmlhbC1oZXJlLi4u"}]' } });
    expect(() => resolveSecrets(config)).toThrow(/records\.keys: key a must be 32 bytes/);
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);
    const pem = loadConfig({ env: { SFU_DATA_DIR: dataDir, SFU_JWT_PUBLIC_KEY: join(dataDir, '..', 'missing.pem') } });
    expect(() => resolveSecrets(pem)).toThrow(/jwt\.publicKey: cannot read/);
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);
  });

  it('a data dir that cannot be written is refused with DATA_DIR_UNWRITABLE, naming the setting and the path', () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    const config = loadConfig({ env: { SFU_DATA_DIR: join(file, 'data') } });
    try {
      resolveSecrets(config);
      throw new Error('expected a refusal');
    } catch (err) {
      expect((err as ConfigError).code).toBe('DATA_DIR_UNWRITABLE');
      expect((err as ConfigError).message).toContain(`dataDir (SFU_DATA_DIR) ${join(file, 'data')} cannot be written (ENOTDIR)`);
    }
  });

  it('the settings table of docs/configuration.md gives each number its schema\'s type, range and default', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('## Settings'), doc.indexOf('Settings marked'));
    const defaults = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
    const at = (root: unknown, path: string, step: (node: any, key: string) => unknown) => path.split('.').reduce(step, root);
    const diff: string[] = [];
    let checked = 0;
    for (const line of table.split('\n').filter((l) => l.startsWith('| `'))) {
      const [keysCell = '', type = '', def = ''] = line.split(' | ');
      const keys = [...keysCell.matchAll(/`([a-zA-Z.]+)`/g)].map((m) => m[1]!);
      const ranges = [...type.matchAll(/(integer|number) (?:(-?[\d.,]+)-([\d.,]+)|≥ ([\d,]+))/g)];
      const defs = [...def.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
      keys.forEach((key, i) => {
        const schema = at(ConfigSchema, key, (n, k) => n?.properties?.[k]) as { type?: string; minimum?: number; maximum?: number } | undefined;
        if (!schema) return void diff.push(`${key}: documented, not in the schema`);
        const r = ranges[Math.min(i, ranges.length - 1)];
        if (r) {
          checked++;
          const min = Number((r[2] ?? r[4])!.replaceAll(',', ''));
          const max = r[3] === undefined ? undefined : Number(r[3].replaceAll(',', ''));
          if (schema.type !== r[1] || schema.minimum !== min || schema.maximum !== max) {
            diff.push(`${key}: documented ${r[1]} ${min}-${max ?? ''}, schema ${schema.type} ${schema.minimum}-${schema.maximum ?? ''}`);
          }
        }
        const value = at(defaults, key, (n, k) => n?.[k]);
        const d = defs[Math.min(i, defs.length - 1)];
        if (d !== undefined && (typeof value === 'number' || typeof value === 'boolean') && String(value) !== d) diff.push(`${key}: documented default ${d}, actual ${value}`);
      });
    }
    expect(checked).toBeGreaterThan(45);
    expect(diff).toEqual([]);
  });
});
