import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface UdpRelay {
  close(): Promise<void>;
}

/**
 * A plain UDP relay: datagrams to `listen` go to `target` from one upstream socket per sender,
 * and the target's answers go back to that sender from `listen`. No loss, no delay.
 */
export async function startUdpRelay(listen: { host: string; port: number }, target: { host: string; port: number }): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const upstreams = new Map<string, Socket>();
  const upstreamOf = (from: RemoteInfo): Socket => {
    const key = `${from.address}:${from.port}`;
    let up = upstreams.get(key);
    if (!up) {
      up = createSocket('udp4');
      up.on('message', (msg) => front.send(msg, from.port, from.address));
      up.on('error', () => undefined);
      up.bind(0, target.host);
      upstreams.set(key, up);
    }
    return up;
  };
  front.on('message', (msg, from) => upstreamOf(from).send(msg, target.port, target.host));
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
