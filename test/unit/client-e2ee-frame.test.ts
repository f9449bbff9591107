import { describe, expect, it } from 'vitest';
import {
  clearHeaderBytes, decryptFrame, encryptFrame, makeSenderKey, nextIv, OVERHEAD_BYTES, readTrailer, TRAILER_BYTES,
} from '../../src/client/e2ee-frame.ts';
import { Keyring } from '../../src/client/e2ee-keyring.ts';

const raw = (fill: number, n = 16) => new Uint8Array(n).fill(fill);
/** A VP8 key frame's first bytes: frame tag (P bit 0), start code, 640x360. */
const VP8_KEY = Uint8Array.from([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, ...Array.from({ length: 200 }, (_, i) => i & 0xff)]);

describe('E2EE frame format', () => {
  it('keeps the codec header in clear: VP8 10 bytes on a key frame, 3 on a delta frame, Opus 1, other video none', () => {
    expect(clearHeaderBytes('video', 'video/VP8', true, 500)).toBe(10);
    expect(clearHeaderBytes('video', 'video/VP8', false, 500)).toBe(3);
    expect(clearHeaderBytes('audio', 'audio/opus', false, 60)).toBe(1);
    expect(clearHeaderBytes('video', 'video/VP9', true, 500)).toBe(0);
    expect(clearHeaderBytes('video', 'video/VP8', true, 4)).toBe(4);
  });

  it('round-trips a frame: clear header unchanged, the rest unreadable, a 30-byte trailer and tag', async () => {
    const sk = await makeSenderKey(raw(7), 3);
    const sealed = await encryptFrame(VP8_KEY, 10, sk);
    expect(sealed.length).toBe(VP8_KEY.length + OVERHEAD_BYTES);
    expect([...sealed.subarray(0, 10)]).toEqual([...VP8_KEY.subarray(0, 10)]);
    // Beyond the clear header the bytes are not the frame's.
    expect(Buffer.from(sealed.subarray(10, VP8_KEY.length)).equals(Buffer.from(VP8_KEY.subarray(10)))).toBe(false);
    const trailer = readTrailer(sealed)!;
    expect(trailer.clear).toBe(10);
    expect(trailer.epochByte).toBe(3);
    const plain = await decryptFrame(sealed, sk.key);
    expect(plain && [...plain]).toEqual([...VP8_KEY]);
  });

  it('refuses a frame under another key, with a changed clear header, epoch or ciphertext, or too short', async () => {
    const sk = await makeSenderKey(raw(7), 1);
    const other = await makeSenderKey(raw(8), 1);
    const sealed = await encryptFrame(VP8_KEY, 10, sk);
    expect(await decryptFrame(sealed, other.key)).toBeUndefined();
    for (const at of [0, 9, 20, sealed.length - TRAILER_BYTES - 1, sealed.length - 2, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at]! ^= 1;
      expect(await decryptFrame(bad, sk.key), `byte ${at} changed`).toBeUndefined();
    }
    expect(await decryptFrame(VP8_KEY, sk.key)).toBeUndefined(); // a frame never encrypted
    expect(await decryptFrame(sealed.subarray(0, 20), sk.key)).toBeUndefined();
  });

  it('encrypts an Opus frame of the TOC byte only, and an empty remainder', async () => {
    const sk = await makeSenderKey(raw(1), 0);
    const toc = Uint8Array.of(0x78);
    const sealed = await encryptFrame(toc, 1, sk);
    expect(sealed.length).toBe(1 + OVERHEAD_BYTES);
    expect([...(await decryptFrame(sealed, sk.key))!]).toEqual([0x78]);
  });

  it('never repeats an IV under one key: salt, then a 64-bit counter', async () => {
    const sk = await makeSenderKey(raw(2), 0, Uint8Array.of(1, 2, 3, 4));
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(Buffer.from(nextIv(sk)).toString('hex'));
    expect(seen.size).toBe(10_000);
    expect([...nextIv(sk).subarray(0, 4)]).toEqual([1, 2, 3, 4]);
    // Past 2^32 frames the high word moves: no wrap-around.
    sk.counter = 2 ** 32 - 1;
    const a = Buffer.from(nextIv(sk)).toString('hex');
    const b = Buffer.from(nextIv(sk)).toString('hex');
    expect(a).toBe('0102030400000000ffffffff');
    expect(b).toBe('010203040000000100000000');
    // Frames of audio and video of one sender share the key and its counter: IVs in their trailers differ.
    const frames = await Promise.all(Array.from({ length: 50 }, (_, i) => encryptFrame(VP8_KEY, i % 2 ? 3 : 1, sk)));
    expect(new Set(frames.map((f) => Buffer.from(readTrailer(f)!.iv).toString('hex'))).size).toBe(50);
  });

  it('two keys never share a salt by construction (random 4 bytes each)', async () => {
    const salts = new Set<string>();
    for (let i = 0; i < 200; i++) salts.add(Buffer.from((await makeSenderKey(raw(i & 0xff), i)).salt).toString('hex'));
    expect(salts.size).toBeGreaterThan(195);
  });
});

describe('E2EE receiving keyring', () => {
  it('holds the newest key and, for the overlap, the one before it', () => {
    const ring = new Keyring<string>({ overlapMs: 2000, keepRetired: true });
    ring.add('a', 0, 'k0', 0);
    ring.add('a', 1, 'k1', 1000);
    expect(ring.lookup('a', 0, 1500)?.key).toBe('k0');
    expect(ring.lookup('a', 1, 1500)?.key).toBe('k1');
    // 2 s after the new key arrived the old one is gone.
    expect(ring.lookup('a', 0, 3000)).toBeUndefined();
    expect(ring.retired('a').map((e) => e.epoch)).toEqual([0]);
  });

  it('drops the old key as soon as a frame of the new epoch decrypted; ignores a late older epoch', () => {
    const ring = new Keyring<string>();
    ring.add('a', 4, 'k4', 0);
    ring.add('a', 5, 'k5', 10);
    ring.decrypted('a', 5);
    expect(ring.lookup('a', 4, 20)).toBeUndefined();
    expect(ring.add('a', 3, 'k3', 30)).toBe(false);
    expect(ring.newestEpoch('a')).toBe(5);
    // Epoch 261 ends in the same byte as 5: the newest wins the lookup.
    ring.add('a', 261, 'k261', 40);
    expect(ring.lookup('a', 5, 50)?.key).toBe('k261');
    ring.forget('a');
    expect(ring.lookup('a', 5, 50)).toBeUndefined();
  });
});
