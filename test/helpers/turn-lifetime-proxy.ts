import { createSocket, type Socket } from 'node:dgram';
import { ATTR, METHOD, attrs, attrValue, isRequest, isStun, isSuccess, longTermKey, methodOf, resign, tidOf } from './stun.ts';

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

export async function startTurnLifetimeProxy(opts: { coturnPort: number; secret: string; lifetimeSeconds: number }): Promise<TurnLifetimeProxy> {
  const front = createSocket('udp4');
  const upstream = new Map<string, Socket>();
  /** Transaction id of an ALLOCATE/REFRESH request → its username and realm. */
  const asked = new Map<string, { username: string; realm: string }>();
  let rewritten = 0;

  const shorten = (b: Buffer): Buffer => {
    const type = b.readUInt16BE(0);
    const method = methodOf(type);
    if (!isSuccess(type) || (method !== METHOD.ALLOCATE && method !== METHOD.REFRESH)) return b;
    const who = asked.get(tidOf(b));
    const lifetime = attrs(b).find((a) => a.type === ATTR.LIFETIME);
    if (!who || !lifetime || b.readUInt32BE(lifetime.offset + 4) <= opts.lifetimeSeconds) return b;
    const out = Buffer.from(b);
    out.writeUInt32BE(opts.lifetimeSeconds, lifetime.offset + 4);
    resign(out, longTermKey(opts.secret, who.username, who.realm));
    rewritten += 1;
    return out;
  };

  const remember = (b: Buffer): void => {
    const type = b.readUInt16BE(0);
    const method = methodOf(type);
    if (!isRequest(type) || (method !== METHOD.ALLOCATE && method !== METHOD.REFRESH)) return;
    const username = attrValue(b, ATTR.USERNAME)?.toString('utf8');
    const realm = attrValue(b, ATTR.REALM)?.toString('utf8');
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
