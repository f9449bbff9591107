import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A data key: 32 bytes, named so that records say which key sealed them. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * AES-256-GCM for record fields at rest (locations, emergency contacts, names, addresses).
 * Sealed text is `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts). The first key seals;
 * every key opens, so a key is rotated by putting a new one first (docs/records.md).
 */
export class FieldCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: DataKey;

  constructor(keys: readonly DataKey[]) {
    if (keys.length === 0) throw new Error('FieldCipher needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`record key ${k.id} must be 32 bytes`);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(k.id)) throw new Error(`record key id ${k.id} must be 1-32 of [A-Za-z0-9_-]`);
    }
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
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

  sealJson(value: unknown): string {
    return this.seal(JSON.stringify(value));
  }

  openJson<T>(sealed: string): T {
    return JSON.parse(this.open(sealed)) as T;
  }
}
