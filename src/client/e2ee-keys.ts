/**
 * E2EE key handling (docs/security.md, "Key schedule"), pure WebCrypto, unit-tested in Node:
 *
 * - each participant's ECDH P-256 key pair (the private key never leaves WebCrypto: not extractable);
 * - a sender key: 16 random bytes (AES-128-GCM frame key) per sender and epoch;
 * - a sender key wrapped for one recipient: AES-256-GCM under a key derived by
 *   ECDH(sender private, recipient public) -> HKDF-SHA-256, whose info binds the room, the sender,
 *   the recipient and the epoch (so a blob cannot be replayed to someone else or as another epoch).
 *   blob = base64url(version 1 | IV 12 | ciphertext 16 | tag 16): 60 characters.
 */

import type { Key } from './e2ee-frame.ts';

export const SENDER_KEY_BYTES = 16;
const BLOB_VERSION = 1;
const WRAP_IV_BYTES = 12;
const HKDF_SALT = new TextEncoder().encode('telepractice-sfu e2ee v1');

export function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new SyntaxError('not base64url');
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export interface IdentityKeys {
  readonly privateKey: Key;
  /** base64url of the uncompressed P-256 point (65 bytes, 0x04 first): what the server relays. */
  readonly publicKey: string;
}

/** A fresh ECDH P-256 key pair for one page's participation (private key not extractable). */
export async function makeIdentityKeys(): Promise<IdentityKeys> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']) as { publicKey: Key; privateKey: Key };
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: toBase64Url(raw) };
}

/** A peer's public key from its base64url form; throws on anything but a 65-byte uncompressed P-256 point. */
export async function importPublicKey(publicKey: string): Promise<Key> {
  const raw = fromBase64Url(publicKey);
  if (raw.length !== 65 || raw[0] !== 0x04) throw new RangeError('not an uncompressed P-256 public key');
  return crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
}

export function newSenderKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SENDER_KEY_BYTES));
}

/** What a wrapped key is bound to: HKDF info and the wrap's additional data. */
export interface WrapContext {
  readonly room: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
}

function info(ctx: WrapContext): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(['tp-e2ee-wrap', ctx.room, ctx.from, ctx.to, ctx.epoch]));
}

async function wrapKey(own: Key, peer: Key, ctx: WrapContext): Promise<Key> {
  const shared = await crypto.subtle.deriveBits({ name: 'ECDH', public: peer }, own, 256);
  const hkdf = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT as Uint8Array<ArrayBuffer>, info: info(ctx) as Uint8Array<ArrayBuffer> },
    hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'],
  );
}

/** The sender key encrypted for `ctx.to` (whose public key is `peer`): the e2eeKeys blob. */
export async function wrapSenderKey(senderKey: Uint8Array, own: Key, peer: Key, ctx: WrapContext): Promise<string> {
  const key = await wrapKey(own, peer, ctx);
  const iv = crypto.getRandomValues(new Uint8Array(WRAP_IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: info(ctx) as Uint8Array<ArrayBuffer> }, key, senderKey as Uint8Array<ArrayBuffer>));
  const blob = new Uint8Array(1 + iv.length + sealed.length);
  blob[0] = BLOB_VERSION;
  blob.set(iv, 1);
  blob.set(sealed, 1 + iv.length);
  return toBase64Url(blob);
}

/**
 * The sender key in an e2eeKey blob from `ctx.from` (whose public key is `peer`) to us; undefined
 * when it does not authenticate (another room, sender, recipient or epoch, a changed blob).
 */
export async function unwrapSenderKey(blob: string, own: Key, peer: Key, ctx: WrapContext): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(blob);
  } catch {
    return undefined;
  }
  if (bytes[0] !== BLOB_VERSION || bytes.length < 1 + WRAP_IV_BYTES + 16 + SENDER_KEY_BYTES) return undefined;
  const key = await wrapKey(own, peer, ctx);
  try {
    const raw = new Uint8Array(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(1, 1 + WRAP_IV_BYTES) as Uint8Array<ArrayBuffer>, additionalData: info(ctx) as Uint8Array<ArrayBuffer> },
      key, bytes.subarray(1 + WRAP_IV_BYTES) as Uint8Array<ArrayBuffer>,
    ));
    return raw.length === 16 || raw.length === 32 ? raw : undefined;
  } catch {
    return undefined;
  }
}
