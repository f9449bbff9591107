import { describe, expect, it } from 'vitest';
import { FrameCrypto, measureFrameCrypto } from '../../src/client/e2ee-frame-crypto.ts';
import { newSenderKey } from '../../src/client/e2ee-keys.ts';

const frame = (n: number, fill = 0x11) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + fill) & 0xff);

describe('E2EE worker frame crypto (sender and receivers)', () => {
  it('drops our frames until a sender key is set, then a receiver with the key decrypts them', async () => {
    const alice = new FrameCrypto();
    const bob = new FrameCrypto();
    expect(await alice.encrypt(frame(100), 'video', 'video/VP8', true)).toBeUndefined();
    const raw = newSenderKey();
    await alice.setSenderKey(raw, 0);
    const sealed = (await alice.encrypt(frame(100), 'video', 'video/VP8', true))!;
    // No key for alice yet: dropped and counted.
    expect(await bob.decrypt('alice', sealed)).toBeUndefined();
    expect(bob.stats.dropped.noKey).toBe(1);
    await bob.setReceiverKey('alice', raw, 0);
    expect([...(await bob.decrypt('alice', sealed))!]).toEqual([...frame(100)]);
    // A frame never encrypted, or alice's frame claimed by someone else: dropped.
    expect(await bob.decrypt('alice', frame(100))).toBeUndefined();
    expect(await bob.decrypt('carol', sealed)).toBeUndefined();
    expect(bob.stats.dropped.authFailed + bob.stats.dropped.noKey + bob.stats.dropped.malformed).toBe(3);
    expect(alice.stats.encrypted).toBe(1);
    expect(alice.stats.epochFirstUsed[0]).toBeGreaterThan(0);
  });

  it('after a rekey the frames in flight still decrypt (overlap); the new epoch cannot be read with the old key (debug check)', async () => {
    let now = 1000;
    const alice = new FrameCrypto({ debug: true, now: () => now });
    const bob = new FrameCrypto({ debug: true, now: () => now });
    const k0 = newSenderKey();
    const k1 = newSenderKey();
    await alice.setSenderKey(k0, 0);
    await bob.setReceiverKey('alice', k0, 0);
    const inFlight = (await alice.encrypt(frame(50), 'audio', 'audio/opus', false))!;
    await alice.setSenderKey(k1, 1);
    await bob.setReceiverKey('alice', k1, 1);
    const after = (await alice.encrypt(frame(50), 'audio', 'audio/opus', false))!;
    now += 100;
    expect(await bob.decrypt('alice', inFlight)).toBeDefined();
    expect(await bob.decrypt('alice', after)).toBeDefined();
    expect(bob.stats.receiving.alice?.epoch).toBe(1);
    // Both sides tried the replaced key on the new epoch's frames: it never decrypts them.
    expect(alice.stats.oldKeyTried).toBeGreaterThan(0);
    expect(bob.stats.oldKeyTried).toBeGreaterThan(0);
    expect(alice.stats.oldKeyDecrypted + bob.stats.oldKeyDecrypted).toBe(0);
    // The old key is gone once the new epoch decrypted: a late epoch-0 frame is dropped.
    expect(await bob.decrypt('alice', inFlight)).toBeUndefined();
  });

  it('a withdrawn participant holding only the old key cannot read frames after the rotation', async () => {
    const alice = new FrameCrypto();
    const withdrawn = new FrameCrypto();
    const k0 = newSenderKey();
    await alice.setSenderKey(k0, 0);
    await withdrawn.setReceiverKey('alice', k0, 0);
    await alice.setSenderKey(newSenderKey(), 1);
    const sealed = (await alice.encrypt(frame(300), 'video', 'video/VP8', false))!;
    expect(await withdrawn.decrypt('alice', sealed)).toBeUndefined();
    expect(withdrawn.stats.dropped.noKey).toBe(1);
  });
});

describe('E2EE frame crypto cost measure', () => {
  it('times n encrypt/decrypt pairs and reports medians', async () => {
    const r = await measureFrameCrypto(50, 1500);
    expect(r.n).toBe(50);
    expect(r.bytes).toBe(1500);
    expect(r.encryptUs.median).toBeGreaterThan(0);
    expect(r.decryptUs.p90).toBeGreaterThanOrEqual(r.decryptUs.median);
  });
});
