import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** What a WebRTC datagram is, by its first byte (RFC 7983): STUN 0-3, DTLS 20-63, RTP and RTCP 128-191. */
export const WEBRTC_PACKET = {
  stun: (p: Buffer) => p.length > 0 && p[0]! <= 3,
  dtls: (p: Buffer) => p.length > 0 && p[0]! >= 20 && p[0]! <= 63,
  rtp: (p: Buffer) => p.length > 0 && p[0]! >= 128 && p[0]! <= 191,
};

export interface UdpRelay {
  close(): Promise<void>;
}

/** Which way a datagram goes through the relay: from a client to the target, or the target's answer to it. */
export type RelayWay = 'up' | 'down';

export interface UdpRelayOptions {
  /** Datagrams to drop, e.g. by kind (WEBRTC_PACKET), by the client they come from or go to, or at random (a lossy link). */
  drop?: (packet: Buffer, way: RelayWay, client: RemoteInfo) => boolean;
  /** Milliseconds to hold each datagram of this client's, each way (0 or absent: none). Order is kept. */
  delayMs?: (client: RemoteInfo) => number;
}

/**
 * A UDP relay: datagrams to `listen` go to `target` from one upstream socket per sender, and the
 * target's answers go back to that sender from `listen`. The datagrams `drop` picks (either way)
 * are dropped; `delayMs` holds a client's datagrams (a one-way delay each way, e.g. 75 ms for a
 * 150 ms round trip). Used by the tests (drop by kind) and by the poor-link bench (bench/network).
 */
export async function startUdpRelay(
  listen: { host: string; port: number },
  target: { host: string; port: number },
  opts: UdpRelayOptions = {},
): Promise<UdpRelay> {
  let closed = false;
  const forward = (msg: Buffer, way: RelayWay, client: RemoteInfo, send: () => void) => {
    if (opts.drop?.(msg, way, client)) return;
    const delay = opts.delayMs?.(client) ?? 0;
    // Timers of the same duration fire in the order they were set: the delay keeps the order.
    if (delay > 0) setTimeout(() => closed || send(), delay);
    else send();
  };
  const front = createSocket('udp4');
  const upstreams = new Map<string, Socket>();
  const upstreamOf = (from: RemoteInfo): Socket => {
    const key = `${from.address}:${from.port}`;
    let up = upstreams.get(key);
    if (!up) {
      up = createSocket('udp4');
      up.on('message', (msg) => forward(msg, 'down', from, () => front.send(msg, from.port, from.address)));
      up.on('error', () => undefined);
      up.bind(0, target.host);
      upstreams.set(key, up);
    }
    return up;
  };
  front.on('message', (msg, from) => forward(msg, 'up', from, () => upstreamOf(from).send(msg, target.port, target.host)));
  front.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(listen.port, listen.host, () => resolve());
  });
  return {
    async close() {
      closed = true;
      for (const up of upstreams.values()) up.close();
      upstreams.clear();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}
