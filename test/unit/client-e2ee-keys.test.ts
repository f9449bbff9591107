import { describe, expect, it } from 'vitest';
import {
  fromBase64Url, importPublicKey, makeIdentityKeys, newSenderKey, toBase64Url, unwrapSenderKey, wrapSenderKey, type WrapContext,
} from '../../src/client/e2ee-keys.ts';
import { safetyCode } from '../../src/client/e2ee-safety-code.ts';

describe('E2EE key handling', () => {
  it('a public key is base64url of a 65-byte uncompressed P-256 point; the private key cannot be exported', async () => {
    const keys = await makeIdentityKeys();
    expect(keys.publicKey).toMatch(/^[A-Za-z0-9_-]{87}$/);
    const raw = fromBase64Url(keys.publicKey);
    expect(raw.length).toBe(65);
    expect(raw[0]).toBe(4);
    expect(keys.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', keys.privateKey)).rejects.toThrow();
    await expect(importPublicKey(toBase64Url(raw.subarray(0, 33)))).rejects.toThrow();
  });

  it('wraps a sender key for one recipient; only that recipient, for that room, sender and epoch, unwraps it', async () => {
    const [alice, bob, eve] = await Promise.all([makeIdentityKeys(), makeIdentityKeys(), makeIdentityKeys()]);
    const senderKey = newSenderKey();
    const ctx: WrapContext = { room: 'r1', from: 'p-alice', to: 'p-bob', epoch: 2 };
    const blob = await wrapSenderKey(senderKey, alice.privateKey, await importPublicKey(bob.publicKey), ctx);
    expect(blob.length).toBeLessThanOrEqual(512);
    expect(blob).toMatch(/^[A-Za-z0-9_-]+$/);
    // The blob holds no copy of the key.
    expect(Buffer.from(fromBase64Url(blob)).includes(Buffer.from(senderKey))).toBe(false);

    const alicePub = await importPublicKey(alice.publicKey);
    const got = await unwrapSenderKey(blob, bob.privateKey, alicePub, ctx);
    expect(got && [...got]).toEqual([...senderKey]);

    expect(await unwrapSenderKey(blob, eve.privateKey, alicePub, ctx)).toBeUndefined();
    for (const other of [{ ...ctx, room: 'r2' }, { ...ctx, to: 'p-eve' }, { ...ctx, from: 'p-eve' }, { ...ctx, epoch: 3 }]) {
      expect(await unwrapSenderKey(blob, bob.privateKey, alicePub, other), JSON.stringify(other)).toBeUndefined();
    }
    const bytes = fromBase64Url(blob);
    bytes[20]! ^= 1;
    expect(await unwrapSenderKey(toBase64Url(bytes), bob.privateKey, alicePub, ctx)).toBeUndefined();
    expect(await unwrapSenderKey('not base64!', bob.privateKey, alicePub, ctx)).toBeUndefined();
  });

  it('two wraps of one key differ (a fresh IV each)', async () => {
    const [a, b] = await Promise.all([makeIdentityKeys(), makeIdentityKeys()]);
    const k = newSenderKey();
    const ctx = { room: 'r', from: 'a', to: 'b', epoch: 0 };
    const pub = await importPublicKey(b.publicKey);
    expect(await wrapSenderKey(k, a.privateKey, pub, ctx)).not.toBe(await wrapSenderKey(k, a.privateKey, pub, ctx));
  });
});

describe('E2EE safety code', () => {
  it('is the same whatever the order of the keys, 12 digits in groups of four, and changes with the membership', async () => {
    const keys = await Promise.all([makeIdentityKeys(), makeIdentityKeys(), makeIdentityKeys()]).then((k) => k.map((x) => x.publicKey));
    const code = await safetyCode(keys);
    expect(code).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(await safetyCode([keys[2]!, keys[0]!, keys[1]!])).toBe(code);
    expect(await safetyCode(keys.slice(0, 2))).not.toBe(code);
    expect(await safetyCode([...keys, keys[0]!])).toBe(code);
  });
});
