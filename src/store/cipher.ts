import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { DataKey } from '../config/secrets.ts';


/**
 * AES-256-GCM for record fields at rest (locations, emergency contacts, names, addresses).
 * Sealed text is `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts). The first key seals;
 * every key opens, so a key is rotated by putting a new one first (docs/records.md).
 */
export class FieldCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #given: readonly DataKey[];
  readonly #current: DataKey;

  constructor(keys: readonly DataKey[]) {
    if (keys.length === 0) throw new Error('FieldCipher needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`record key ${k.id} must be 32 bytes`);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(k.id)) throw new Error(`record key id ${k.id} must be 1-32 of [A-Za-z0-9_-]`);
    }
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
    this.#given = keys.map((k) => ({ id: k.id, key: k.key }));
    this.#current = keys[0]!;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#current.key, iv);
    c.setAAD(Buffer.from(this.#current.id));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', this.#current.id, iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [v, id, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !id || iv === undefined || tag === undefined || body === undefined) throw new Error('not a sealed record field');
    const key = this.#keys.get(id);
    if (!key) throw new Error(`record key ${id} is not configured`);
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(id));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  }

  /**
   * The keys, newest first, to hand to the SQLite store's worker thread (workerData), which seals
   * and opens there. Nothing else may read them; never log them.
   */
  keysForWorker(): DataKey[] {
    return this.#given.map((k) => ({ id: k.id, key: k.key }));
  }

  /** Id of the newest key (the one that seals). */
  get currentKeyId(): string {
    return this.#current.id;
  }

  /**
   * A 32-byte key for a purpose other than sealing (e.g. signing the audit head): HKDF-SHA256 of the
   * record key `id` (default the newest), no salt, `purpose` as info. Undefined when `id` is not configured.
   */
  derive(purpose: string, id: string = this.#current.id): DataKey | undefined {
    const key = this.#keys.get(id);
    return key ? { id, key: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), purpose, 32)) } : undefined;
  }

  sealJson(value: unknown): string {
    return this.seal(JSON.stringify(value));
  }

  openJson<T>(sealed: string): T {
    return JSON.parse(this.open(sealed)) as T;
  }
}
