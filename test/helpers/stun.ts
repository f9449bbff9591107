import { createHash, createHmac, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** STUN/TURN message pieces (RFC 5389 / 5766) for the TURN tests' UDP relay and scripted client. */

export const MAGIC = 0x2112a442;
export const ATTR = {
  USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, CHANNEL_NUMBER: 0x000c, LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012, REALM: 0x0014, NONCE: 0x0015, REQUESTED_TRANSPORT: 0x0019, FINGERPRINT: 0x8028,
} as const;
export const METHOD = { ALLOCATE: 0x003, REFRESH: 0x004, CREATE_PERMISSION: 0x008, CHANNEL_BIND: 0x009 } as const;

export interface Attr { type: number; offset: number; length: number }

export function isStun(b: Buffer): boolean {
  return b.length >= 20 && (b[0]! & 0xc0) === 0 && b.readUInt32BE(4) === MAGIC;
}

export function attrs(b: Buffer): Attr[] {
  const out: Attr[] = [];
  const end = Math.min(b.length, 20 + b.readUInt16BE(2));
  for (let at = 20; at + 4 <= end;) {
    const type = b.readUInt16BE(at);
    const length = b.readUInt16BE(at + 2);
    out.push({ type, offset: at, length });
    at += 4 + Math.ceil(length / 4) * 4;
  }
  return out;
}

export function attrValue(b: Buffer, type: number): Buffer | undefined {
  const a = attrs(b).find((x) => x.type === type);
  return a ? b.subarray(a.offset + 4, a.offset + 4 + a.length) : undefined;
}

export const methodOf = (type: number) => (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
export const isRequest = (type: number) => (type & 0x0110) === 0x0000;
export const isSuccess = (type: number) => (type & 0x0110) === 0x0100;
export const tidOf = (b: Buffer) => b.subarray(8, 20).toString('hex');

/** The error code of an error response (e.g. 401), or undefined. */
export function errorCodeOf(b: Buffer): number | undefined {
  const v = attrValue(b, ATTR.ERROR_CODE);
  return v && v.length >= 4 ? (v[2]! & 0x7) * 100 + v[3]! : undefined;
}

/** coturn's REST scheme: the long-term key of `username` (password = base64(HMAC-SHA1(secret, username))). */
export function longTermKey(secret: string, username: string, realm: string): Buffer {
  const password = createHmac('sha1', secret).update(username).digest('base64');
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

/**
 * Rewrites MESSAGE-INTEGRITY (with `key`) and FINGERPRINT of `b` in place, after its other
 * attributes changed: each covers the message before it, the length field counting up to its end.
 */
export function resign(b: Buffer, key: Buffer): void {
  b.writeUInt16BE(b.length - 20, 2);
  const list = attrs(b);
  const mi = list.find((a) => a.type === ATTR.MESSAGE_INTEGRITY);
  const fp = list.find((a) => a.type === ATTR.FINGERPRINT);
  if (mi) {
    b.writeUInt16BE(mi.offset + 24 - 20, 2);
    createHmac('sha1', key).update(b.subarray(0, mi.offset)).digest().copy(b, mi.offset + 4);
  }
  b.writeUInt16BE(b.length - 20, 2);
  if (fp) b.writeUInt32BE((crc32(b.subarray(0, fp.offset)) ^ 0x5354554e) >>> 0, fp.offset + 4);
}

/** A request of `method` with `attributes` (type, value), then MESSAGE-INTEGRITY with `key` if given, and FINGERPRINT. */
export function request(method: number, attributes: readonly (readonly [number, Buffer])[], key?: Buffer): Buffer {
  const type = (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC, 4);
  randomBytes(12).copy(header, 8);
  parts.push(header);
  const attr = (t: number, v: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(t, 0);
    h.writeUInt16BE(v.length, 2);
    parts.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  };
  for (const [t, v] of attributes) attr(t, v);
  if (key) attr(ATTR.MESSAGE_INTEGRITY, Buffer.alloc(20));
  attr(ATTR.FINGERPRINT, Buffer.alloc(4));
  const out = Buffer.concat(parts);
  resign(out, key ?? Buffer.alloc(0));
  return out;
}

/** XOR-PEER-ADDRESS of an IPv4 address and port. */
export function xorPeer(ip: string, port: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt16BE(0x0001, 0);
  v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const n = ip.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  v.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
  return v;
}
