import { createECDH } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkPublicKey, PUBLIC_KEY_CHARS } from '../../src/room/e2ee.ts';
import { SfuError } from '../../src/shared/errors.ts';

const refusal = (key: string): string | undefined => {
  try {
    checkPublicKey(key);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(SfuError);
    expect((err as SfuError).code).toBe('E2EE_INVALID_KEY');
    return (err as SfuError).message;
  }
};

describe('checkPublicKey (join e2ee.publicKey)', () => {
  it('accepts uncompressed P-256 points as WebCrypto exports them (raw), base64url without padding', () => {
    for (let i = 0; i < 50; i++) {
      const key = createECDH('prime256v1').generateKeys().toString('base64url');
      expect(key).toHaveLength(PUBLIC_KEY_CHARS);
      expect(refusal(key)).toBeUndefined();
    }
  });

  it('refuses other lengths, other alphabets, padding, compressed points and non-canonical encodings', () => {
    const raw = createECDH('prime256v1').generateKeys();
    const text = raw.toString('base64url');
    const compressed = createECDH('prime256v1');
    compressed.generateKeys();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const cases: [string, RegExp][] = [
      ['', /87 base64url characters/],
      [text.slice(0, 86), /87 base64url characters/],
      [`${text}A`, /87 base64url characters/],
      [raw.toString('base64'), /87 base64url characters/],
      [`${text.slice(0, 85)}+/`, /base64url/],
      [`${text.slice(0, 86)}=`, /base64url/],
      [`${text.slice(0, 86)} `, /base64url/],
      [text.slice(0, 86) + alphabet[alphabet.indexOf(text.at(-1)!) | 2], /not canonical/],
      [Buffer.concat([Buffer.from([2]), raw.subarray(1)]).toString('base64url'), /first byte 0x04/],
      [Buffer.alloc(65).toString('base64url'), /first byte 0x04/],
      // A compressed point is 33 bytes.
      [compressed.getPublicKey(undefined, 'compressed').toString('base64url'), /87 base64url characters/],
    ];
    for (const [key, message] of cases) expect(refusal(key), key).toMatch(message);
  });
});
