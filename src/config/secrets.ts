import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import { newSecret } from '../shared/ids.ts';
import type { Config } from './schema.ts';
import { ConfigError } from './load.ts';

/** A data key: 32 bytes, named so that records say which key sealed them. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

export interface Secrets {
  /** Key material for the token verifier: the HS256 secret or the PEM public key. */
  readonly jwtKey: string;
  readonly jwtAlgorithms: ('HS256' | 'RS256' | 'ES256')[];
  /** The HS256 secret when there is one (minting dev tokens needs it). */
  readonly jwtSecret: string | undefined;
  readonly adminToken: string;
  /** Keys that seal record fields, newest first. */
  readonly recordKeys: DataKey[];
  /** Which secrets were generated into the data dir on this start. */
  readonly generated: string[];
}

/** A secret kept in the data dir, or undefined when its file does not exist. */
function readDataDirSecret(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const value = readFileSync(path, 'utf8').trim();
  if (value.length < 16) throw new ConfigError([`${path} holds fewer than 16 characters: delete it to have a new one generated`]);
  return value;
}

/** Reads a secret kept in the data dir, creating it (mode 0600) on first use. */
function dataDirSecret(dataDir: string, file: string, generated: string[]): string {
  const path = join(dataDir, file);
  const existing = readDataDirSecret(path);
  if (existing !== undefined) return existing;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = newSecret(32);
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  generated.push(path);
  return value;
}

/** A PEM given inline (with real or escaped newlines), or the path of a PEM file. */
function readPem(value: string): string {
  let v: string;
  try {
    v = value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
  } catch (err) {
    throw new ConfigError([`jwt.publicKey: cannot read ${value}: ${(err as Error).message}`]);
  }
  v = v.replaceAll('\\n', '\n');
  try {
    createPublicKey(v);
  } catch {
    throw new ConfigError(['jwt.publicKey is not a valid PEM public key']);
  }
  return v;
}

/**
 * Resolves the token key and admin credential. Never a built-in default: when none is
 * configured, a random one is generated into the data dir and reused on later starts (the token
 * secret only in development mode: production refuses with JWT_SECRET_REQUIRED).
 */
export function resolveSecrets(config: Readonly<Config>): Secrets {
  // Before anything is generated: a refused start leaves the data dir as it was.
  if (!config.jwt.secret && !config.jwt.publicKey && config.mode === 'production') {
    throw new ConfigError([
      'mode is production (SFU_MODE=production, the container image\'s default) and no token key is configured: '
      + 'set SFU_JWT_SECRET (at least 32 characters), SFU_JWT_SECRET_FILE (a file holding it, e.g. a mounted secret) '
      + 'or SFU_JWT_PUBLIC_KEY. Production never generates a token secret nor prints demo links; '
      + 'for a local trial run with SFU_MODE=development, which generates one into the data dir',
    ], 'JWT_SECRET_REQUIRED');
  }
  // Every configured key is checked before anything is written: a refused start leaves the data dir as it was.
  const configuredKeys = configuredRecordKeys(config);
  const publicKey = config.jwt.publicKey ? readPem(config.jwt.publicKey) : undefined;
  const algorithms: Secrets['jwtAlgorithms'] = config.jwt.algorithms.length > 0 ? [...config.jwt.algorithms] : publicKey ? ['RS256', 'ES256'] : ['HS256'];
  if (publicKey && algorithms.includes('HS256')) throw new ConfigError(['jwt.algorithms: HS256 needs jwt.secret, not jwt.publicKey']);
  if (!publicKey && algorithms.some((a) => a !== 'HS256')) throw new ConfigError(['jwt.algorithms: RS256/ES256 need jwt.publicKey']);
  ensureWritableDataDir(config.dataDir);
  const generated: string[] = [];
  const adminToken = config.admin.token || dataDirSecret(config.dataDir, 'admin-token', generated);
  const recordKeys = configuredKeys ?? [{ id: 'local', key: Buffer.from(dataDirSecret(config.dataDir, 'records-key', generated), 'base64url') }];
  if (publicKey) return { jwtKey: publicKey, jwtAlgorithms: algorithms, jwtSecret: undefined, adminToken, recordKeys, generated };
  const secret = config.jwt.secret || dataDirSecret(config.dataDir, 'jwt-secret', generated);
  return { jwtKey: secret, jwtAlgorithms: algorithms, jwtSecret: secret, adminToken, recordKeys, generated };
}

/** The code of the start-up refusal when the data dir cannot be created or written. */
export const DATA_DIR_UNWRITABLE = 'DATA_DIR_UNWRITABLE';

/**
 * The data dir holds generated secrets, the SQLite store and the panic spool, so the node needs it
 * writable whatever else is configured: created (mode 0700) when missing, then a file written and
 * removed in it. Refused with DATA_DIR_UNWRITABLE (exit 78), naming the setting, the path and the
 * error code (EACCES: a volume owned by another user; EROFS: a read-only mount).
 */
export function ensureWritableDataDir(dataDir: string): void {
  const path = resolve(dataDir);
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    const probe = join(path, `.write-probe-${process.pid}`);
    writeFileSync(probe, '', { mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (err) {
    throw new ConfigError([
      `dataDir (SFU_DATA_DIR) ${path} cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'}): the node keeps its generated secrets, `
      + 'the SQLite records and the panic spool there. Give the user the server runs as a directory it can write (in the container image: '
      + 'uid 10001, e.g. chown 10001:10001 on a bind-mounted host directory), or set SFU_DATA_DIR to one',
    ], DATA_DIR_UNWRITABLE);
  }
}

/**
 * The HS256 secret this configuration's server verifies tokens with, for tools that mint them
 * (`npm run token`): `jwt.secret`, else `<dataDir>/jwt-secret` as the server generated it, found
 * through the same configuration as `npm start` (SFU_DATA_DIR, the SFU_CONFIG file, default
 * `./data`). Never generates one: a token signed with a secret the server does not have would be
 * refused by it. Throws a ConfigError `JWT_SECRET_NOT_FOUND` instead.
 */
export function existingJwtSecret(config: Readonly<Config>): string {
  if (config.jwt.publicKey) {
    throw new ConfigError(['the server is configured for RS256/ES256 (jwt.publicKey, SFU_JWT_PUBLIC_KEY): there is no shared secret to mint with; mint tokens with your private key instead'], 'JWT_SECRET_NOT_FOUND');
  }
  return existingSecret(config.jwt.secret, config.dataDir, 'jwt-secret', 'JWT_SECRET_NOT_FOUND', (path) =>
    `no token secret: ${path} does not exist and jwt.secret (SFU_JWT_SECRET) is not set. The server generates that file on its first start `
    + `with this data dir (dataDir ${JSON.stringify(config.dataDir)}, from SFU_DATA_DIR, the SFU_CONFIG file or the default ./data, relative to ${process.cwd()}). `
    + 'Start the server once (npm start), or run this with the same SFU_DATA_DIR / SFU_CONFIG / SFU_JWT_SECRET as the server. No token was minted.');
}

/** Configured record keys (base64, 32 bytes each), checked; undefined when none is configured (one is generated, id `local`). */
function configuredRecordKeys(config: Readonly<Config>): DataKey[] | undefined {
  if (config.records.keys.length === 0) return undefined;
  return config.records.keys.map(({ id, key }) => {
    const bytes = Buffer.from(key, 'base64');
    if (bytes.length !== 32) throw new ConfigError([`records.keys: key ${id} must be 32 bytes, base64-encoded`]);
    return { id, key: bytes };
  });
}

/**
 * The record keys this configuration's server seals and signs with, for tools that read its store
 * (`npm run audit:verify`): `records.keys`, else `<dataDir>/records-key` as the server generated it.
 * Never generates one (a new key opens nothing and signs nothing the server wrote): throws a
 * ConfigError `RECORDS_KEY_NOT_FOUND` instead.
 */
export function existingRecordKeys(config: Readonly<Config>): DataKey[] {
  const configured = configuredRecordKeys(config);
  if (configured) return configured;
  const path = resolve(config.dataDir, 'records-key');
  const key = readDataDirSecret(path);
  if (key !== undefined) return [{ id: 'local', key: Buffer.from(key, 'base64url') }];
  throw new ConfigError([
    `no records key: ${path} does not exist and records.keys (SFU_RECORDS_KEYS) is not set. Run this with the same SFU_DATA_DIR / SFU_CONFIG / `
    + `SFU_RECORDS_KEYS(_FILE) as the server (dataDir ${JSON.stringify(config.dataDir)}, relative to ${process.cwd()}); nothing was created`,
  ], 'RECORDS_KEY_NOT_FOUND');
}

/**
 * The admin credential this configuration's server accepts, for tools that call its admin API
 * (`npm run admin`): `admin.token` (SFU_ADMIN_TOKEN), else `<dataDir>/admin-token` as the server
 * generated it, found through the same configuration as `npm start`. Never generates one (the server
 * would not know it): throws a ConfigError `ADMIN_TOKEN_NOT_FOUND` instead.
 */
export function existingAdminToken(config: Readonly<Config>): string {
  return existingSecret(config.admin.token, config.dataDir, 'admin-token', 'ADMIN_TOKEN_NOT_FOUND', (path) =>
    `no admin credential: ${path} does not exist and admin.token (SFU_ADMIN_TOKEN) is not set. The server generates that file on its first start `
    + `with this data dir (dataDir ${JSON.stringify(config.dataDir)}, relative to ${process.cwd()}). Run this with the same SFU_DATA_DIR / SFU_CONFIG / SFU_ADMIN_TOKEN as the server.`);
}

/**
 * For a tool: the secret `configured`, else `<dataDir>/<file>` as the server generated it. Never
 * generates one (the server would not know it): throws a ConfigError `code` saying `missing(path)`.
 */
function existingSecret(configured: string | undefined, dataDir: string, file: string, code: 'JWT_SECRET_NOT_FOUND' | 'ADMIN_TOKEN_NOT_FOUND', missing: (path: string) => string): string {
  if (configured) return configured;
  const path = resolve(dataDir, file);
  const value = readDataDirSecret(path);
  if (value !== undefined) return value;
  throw new ConfigError([missing(path)], code);
}
