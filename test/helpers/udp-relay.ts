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

/**
 * A plain UDP relay: datagrams to `listen` go to `target` from one upstream socket per sender,
 * and the target's answers go back to that sender from `listen`. No delay; the datagrams `drop`
 * picks (either way) are dropped, e.g. by kind (WEBRTC_PACKET).
 */
export async function startUdpRelay(
  listen: { host: string; port: number },
  target: { host: string; port: number },
  opts: { drop?: (packet: Buffer) => boolean } = {},
): Promise<UdpRelay> {
  const pass = (msg: Buffer) => !opts.drop?.(msg);
  const front = createSocket('udp4');
  const upstreams = new Map<string, Socket>();
  const upstreamOf = (from: RemoteInfo): Socket => {
    const key = `${from.address}:${from.port}`;
    let up = upstreams.get(key);
    if (!up) {
      up = createSocket('udp4');
      up.on('message', (msg) => pass(msg) && front.send(msg, from.port, from.address));
      up.on('error', () => undefined);
      up.bind(0, target.host);
      upstreams.set(key, up);
    }
    return up;
  };
  front.on('message', (msg, from) => pass(msg) && upstreamOf(from).send(msg, target.port, target.host));
  front.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(listen.port, listen.host, () => resolve());
  });
  return {
    async close() {
      for (const up of upstreams.values()) up.close();
      upstreams.clear();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}
