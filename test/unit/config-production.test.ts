import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { FILE_VARS, isServerVariable } from '../../src/config/env.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'sfu-config-prod-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const SECRET = 'x'.repeat(40);

describe('mode (SFU_MODE)', () => {
  it('is development by default: a missing token secret is generated into the data dir', () => {
    const dataDir = tempDir();
    const config = loadConfig({ env: { SFU_DATA_DIR: dataDir } });
    expect(config.mode).toBe('development');
    expect(resolveSecrets(config).generated).toContain(join(dataDir, 'jwt-secret'));
  });

  it('production refuses to start without a token key (JWT_SECRET_REQUIRED), and generates nothing first', () => {
    const dataDir = join(tempDir(), 'data');
    const config = loadConfig({ env: { SFU_MODE: 'production', SFU_DATA_DIR: dataDir } });
    let err: unknown;
    try {
      resolveSecrets(config);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('JWT_SECRET_REQUIRED');
    expect((err as ConfigError).message).toContain('SFU_JWT_SECRET_FILE');
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);
  });

  it('production runs with a configured secret or public key, and generates no token secret', () => {
    const dataDir = tempDir();
    const secrets = resolveSecrets(loadConfig({ env: { SFU_MODE: 'production', SFU_DATA_DIR: dataDir, SFU_JWT_SECRET: SECRET } }));
    expect(secrets.jwtSecret).toBe(SECRET);
    expect(secrets.generated).not.toContain(join(dataDir, 'jwt-secret'));
  });

  it('accepts only development or production', () => {
    expect(() => loadConfig({ env: { SFU_MODE: 'prod' } })).toThrow(/mode/);
  });
});

describe('<NAME>_FILE variables', () => {
  it('read the value from a file (trimmed), as a mounted secret gives it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'jwt'), `${SECRET}\n`);
    writeFileSync(join(dir, 'admin'), 'a'.repeat(20));
    const config = loadConfig({ env: { SFU_JWT_SECRET_FILE: join(dir, 'jwt'), SFU_ADMIN_TOKEN_FILE: join(dir, 'admin') } });
    expect(config.jwt.secret).toBe(SECRET);
    expect(config.admin.token).toBe('a'.repeat(20));
  });

  it('are validated like the variable itself, and never print the contents', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'short'), 'tooshort-secret-value');
    expect(() => loadConfig({ env: { SFU_JWT_SECRET_FILE: join(dir, 'short') } })).toThrow(/at least 32/);
    try {
      loadConfig({ env: { SFU_JWT_SECRET_FILE: join(dir, 'short') } });
    } catch (err) {
      expect((err as Error).message).not.toContain('tooshort-secret-value');
    }
  });

  it('refuse a missing or empty file, and a variable set both ways', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'empty'), '\n');
    expect(() => loadConfig({ env: { SFU_TURN_SECRET_FILE: join(dir, 'nope') } })).toThrow(/SFU_TURN_SECRET_FILE: cannot read .*nope \(ENOENT\)/);
    expect(() => loadConfig({ env: { SFU_STORE_URL_FILE: join(dir, 'empty') } })).toThrow(/SFU_STORE_URL_FILE: .* is empty/);
    expect(() => loadConfig({ env: { SFU_JWT_SECRET: SECRET, SFU_JWT_SECRET_FILE: join(dir, 'empty') } })).toThrow(/both set/);
  });

  it('are known to isServerVariable (what the deploy tests check names against); others are not', () => {
    expect(['SFU_JWT_SECRET_FILE', 'SFU_STORE_URL_FILE', 'SFU_MODE', 'SFU_CONFIG'].filter(isServerVariable)).toHaveLength(4);
    expect(['SFU_HTTP_PORT_FILE', 'SFU_JWT_PUBLIC_KEY_FILE', 'SFU_NOPE'].filter(isServerVariable)).toEqual([]);
  });

  it('are each documented in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const name of FILE_VARS) expect(doc, name).toContain(`\`${name}_FILE\``);
  });
});
