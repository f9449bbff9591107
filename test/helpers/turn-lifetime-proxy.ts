import { createHash, createHmac } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { crc32 } from 'node:zlib';

/**
 * A UDP relay between browsers and a test coturn that shortens the allocation LIFETIME coturn
 * announces (600 s: browsers send no LIFETIME, and coturn 4.6 applies `max-allocate-lifetime` only
 * to a requested one). Chromium refreshes an allocation at half a lifetime under 2 minutes, a
 * minute before it otherwise: told `lifetimeSeconds` (e.g. 30) it sends REFRESH every 15 s, so a
 * refresh happens within a test's time. coturn's own allocation keeps its 600 s; everything else
 * (other STUN messages, ChannelData, Send/Data indications) passes unchanged.
 *
 * The rewritten ALLOCATE and REFRESH success responses get their MESSAGE-INTEGRITY recomputed
 * with the long-term key of the request's username (coturn's REST scheme: the password is
 * base64(HMAC-SHA1(secret, username))) and their FINGERPRINT after it.
 */
export interface TurnLifetimeProxy {
  /** turn:127.0.0.1:<port>?transport=udp */
  readonly url: string;
  /** How many success responses had their LIFETIME shortened. */
  rewritten(): number;
  close(): void;
}

const MAGIC = 0x2112a442;
const LIFETIME = 0x000d;
const USERNAME = 0x0006;
const REALM = 0x0014;
const MESSAGE_INTEGRITY = 0x0008;
const FINGERPRINT = 0x8028;
const ALLOCATE = 0x003;
const REFRESH = 0x004;

interface Attr { type: number; offset: number; length: number }

function isStun(b: Buffer): boolean {
  return b.length >= 20 && (b[0]! & 0xc0) === 0 && b.readUInt32BE(4) === MAGIC;
}

function attrs(b: Buffer): Attr[] {
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

const methodOf = (type: number) => (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
const isRequest = (type: number) => (type & 0x0110) === 0x0000;
const isSuccess = (type: number) => (type & 0x0110) === 0x0100;
const tidOf = (b: Buffer) => b.subarray(8, 20).toString('hex');

export async function startTurnLifetimeProxy(opts: { coturnPort: number; secret: string; lifetimeSeconds: number }): Promise<TurnLifetimeProxy> {
  const front = createSocket('udp4');
  const upstream = new Map<string, Socket>();
  /** Transaction id of an ALLOCATE/REFRESH request → its username and realm. */
  const asked = new Map<string, { username: string; realm: string }>();
  let rewritten = 0;

  const shorten = (b: Buffer): Buffer => {
    const type = b.readUInt16BE(0);
    const method = methodOf(type);
    if (!isSuccess(type) || (method !== ALLOCATE && method !== REFRESH)) return b;
    const who = asked.get(tidOf(b));
    const list = attrs(b);
    const lifetime = list.find((a) => a.type === LIFETIME);
    const mi = list.find((a) => a.type === MESSAGE_INTEGRITY);
    if (!who || !lifetime || !mi || b.readUInt32BE(lifetime.offset + 4) <= opts.lifetimeSeconds) return b;
    const out = Buffer.from(b);
    out.writeUInt32BE(opts.lifetimeSeconds, lifetime.offset + 4);
    const password = createHmac('sha1', opts.secret).update(who.username).digest('base64');
    const key = createHash('md5').update(`${who.username}:${who.realm}:${password}`).digest();
    // MESSAGE-INTEGRITY: over the message before it, the length field counting up to its end.
    out.writeUInt16BE(mi.offset + 24 - 20, 2);
    createHmac('sha1', key).update(out.subarray(0, mi.offset)).digest().copy(out, mi.offset + 4);
    const fp = list.find((a) => a.type === FINGERPRINT);
    out.writeUInt16BE(out.length - 20, 2);
    if (fp) out.writeUInt32BE((crc32(out.subarray(0, fp.offset)) ^ 0x5354554e) >>> 0, fp.offset + 4);
    rewritten += 1;
    return out;
  };

  const remember = (b: Buffer): void => {
    const type = b.readUInt16BE(0);
    const method = methodOf(type);
    if (!isRequest(type) || (method !== ALLOCATE && method !== REFRESH)) return;
    const list = attrs(b);
    const text = (t: number) => {
      const a = list.find((x) => x.type === t);
      return a ? b.subarray(a.offset + 4, a.offset + 4 + a.length).toString('utf8') : undefined;
    };
    const username = text(USERNAME);
    const realm = text(REALM);
    if (username && realm) asked.set(tidOf(b), { username, realm });
  };

  front.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let up = upstream.get(key);
    if (!up) {
      const s = createSocket('udp4');
      s.on('message', (reply) => front.send(isStun(reply) ? shorten(reply) : reply, from.port, from.address));
      s.on('error', () => s.close());
      s.bind(0, '127.0.0.1');
      upstream.set(key, s);
      up = s;
    }
    if (isStun(msg)) remember(msg);
    up.send(msg, opts.coturnPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    url: `turn:127.0.0.1:${front.address().port}?transport=udp`,
    rewritten: () => rewritten,
    close() {
      for (const s of upstream.values()) s.close();
      upstream.clear();
      front.close();
    },
  };
}
