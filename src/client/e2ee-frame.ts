/**
 * The end-to-end encrypted frame format (docs/security.md, "Frame format"): pure functions over
 * WebCrypto, used by the page's E2EE worker (e2ee-worker.ts) and unit-tested in Node.
 *
 *   | clear header (n bytes) | AES-GCM ciphertext of the rest | GCM tag (16) | IV (12) | n (1) | epoch (1) |
 *
 * The clear header is what the packetiser, the SFU and the receiver's depacketiser read: VP8's
 * frame tag (3 bytes; 10 on a key frame, with the start code and the picture size), Opus's TOC
 * byte. The additional data authenticates the clear header, the IV, n and the epoch, so none of
 * them can be changed on the way. The IV is a 4-byte random salt drawn when the key is made and
 * a 64-bit frame counter of that key: unique per frame under one key, never reused.
 */

export const TAG_BYTES = 16;
export const IV_BYTES = 12;
/** IV, clear header length, epoch. */
export const TRAILER_BYTES = IV_BYTES + 2;
/** Bytes a frame grows by when encrypted. */
export const OVERHEAD_BYTES = TAG_BYTES + TRAILER_BYTES;

export type FrameKind = 'audio' | 'video';

/** A WebCrypto key, named so in the page's and in Node's type libraries alike. */
export type Key = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/**
 * How many leading bytes stay in clear. Video is sent as VP8 under E2EE (media-link.ts); any
 * other video codec keeps nothing in clear (the receiver then cannot read the frame type, which
 * is why E2EE publishes VP8 only: docs/security.md, "Limits").
 */
export function clearHeaderBytes(kind: FrameKind, codec: string, keyFrame: boolean, length: number): number {
  let n = 0;
  if (kind === 'audio') n = 1; // Opus TOC
  else if (/vp8/i.test(codec)) n = keyFrame ? 10 : 3;
  return Math.min(n, length);
}

/** A sender key as the encrypting side holds it: the key, its epoch, the IV salt and the frame counter. */
export interface SenderKey {
  readonly key: Key;
  readonly epoch: number;
  readonly salt: Uint8Array;
  /** Frames encrypted so far under this key (the next IV's counter). */
  counter: number;
}

/** Imports raw AES key bytes (16 or 32) for frame encryption; not extractable. */
export function importFrameKey(raw: Uint8Array): Promise<Key> {
  if (raw.length !== 16 && raw.length !== 32) throw new RangeError('a frame key is 16 or 32 bytes');
  return crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

export async function makeSenderKey(raw: Uint8Array, epoch: number, salt: Uint8Array = crypto.getRandomValues(new Uint8Array(4))): Promise<SenderKey> {
  return { key: await importFrameKey(raw), epoch, salt, counter: 0 };
}

/** The next IV of `sk`: salt (4) then the counter (8, big-endian); the counter moves on. */
export function nextIv(sk: SenderKey): Uint8Array {
  if (sk.counter >= Number.MAX_SAFE_INTEGER) throw new RangeError('frame counter exhausted: make a new sender key');
  const iv = new Uint8Array(IV_BYTES);
  iv.set(sk.salt.subarray(0, 4), 0);
  const view = new DataView(iv.buffer);
  view.setUint32(4, Math.floor(sk.counter / 2 ** 32));
  view.setUint32(8, sk.counter >>> 0);
  sk.counter++;
  return iv;
}

function additionalData(header: Uint8Array, iv: Uint8Array, clear: number, epochByte: number): Uint8Array {
  const aad = new Uint8Array(header.length + IV_BYTES + 2);
  aad.set(header, 0);
  aad.set(iv, header.length);
  aad[header.length + IV_BYTES] = clear;
  aad[header.length + IV_BYTES + 1] = epochByte;
  return aad;
}

/** Encrypts one frame's bytes with `clear` leading bytes kept in clear. */
export async function encryptFrame(data: Uint8Array, clear: number, sk: SenderKey): Promise<Uint8Array> {
  if (clear < 0 || clear > data.length || clear > 255) throw new RangeError('bad clear header length');
  const iv = nextIv(sk);
  const epochByte = sk.epoch & 0xff;
  const header = data.subarray(0, clear);
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: additionalData(header, iv, clear, epochByte) as Uint8Array<ArrayBuffer>, tagLength: TAG_BYTES * 8 },
    sk.key, data.subarray(clear) as Uint8Array<ArrayBuffer>,
  ));
  const out = new Uint8Array(clear + sealed.length + TRAILER_BYTES);
  out.set(header, 0);
  out.set(sealed, clear);
  out.set(iv, clear + sealed.length);
  out[out.length - 2] = clear;
  out[out.length - 1] = epochByte;
  return out;
}

/** What a received frame's trailer says, or undefined when it cannot be one of ours. */
export interface FrameTrailer {
  readonly clear: number;
  readonly epochByte: number;
  readonly iv: Uint8Array;
}

export function readTrailer(data: Uint8Array): FrameTrailer | undefined {
  if (data.length < OVERHEAD_BYTES) return undefined;
  const clear = data[data.length - 2]!;
  if (data.length < clear + OVERHEAD_BYTES) return undefined;
  return { clear, epochByte: data[data.length - 1]!, iv: data.subarray(data.length - TRAILER_BYTES, data.length - 2) };
}

/**
 * Decrypts one frame with `key`; undefined when it does not authenticate (wrong key, changed
 * bytes, not encrypted at all). Never returns partial or unauthenticated bytes.
 */
export async function decryptFrame(data: Uint8Array, key: Key, trailer = readTrailer(data)): Promise<Uint8Array | undefined> {
  if (!trailer) return undefined;
  const { clear, epochByte, iv } = trailer;
  const header = data.subarray(0, clear);
  try {
    const plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: additionalData(header, iv, clear, epochByte) as Uint8Array<ArrayBuffer>, tagLength: TAG_BYTES * 8 },
      key, data.subarray(clear, data.length - TRAILER_BYTES) as Uint8Array<ArrayBuffer>,
    ));
    const out = new Uint8Array(clear + plain.length);
    out.set(header, 0);
    out.set(plain, clear);
    return out;
  } catch {
    return undefined;
  }
}
