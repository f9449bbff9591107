import { createSocket } from 'node:dgram';
import { ATTR, METHOD, attrValue, errorCodeOf, isSuccess, longTermKey, request, tidOf, xorPeer } from './stun.ts';

/**
 * A scripted TURN client over UDP for the TURN tests: one socket (one coturn session), long-term
 * credentials in coturn's REST scheme. Each call sends one request and resolves with the outcome:
 * 'success' or the error code.
 */
export interface TurnClient {
  /** ALLOCATE (UDP relay): first unauthenticated to learn realm and nonce, then with the credential. */
  allocate(): Promise<'success' | number>;
  refresh(lifetimeSeconds: number): Promise<'success' | number>;
  createPermission(peerIp: string): Promise<'success' | number>;
  channelBind(channel: number, peerIp: string, peerPort: number): Promise<'success' | number>;
  close(): void;
}

export async function turnClient(opts: { port: number; secret: string; username: string }): Promise<TurnClient> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const waiting = new Map<string, (b: Buffer) => void>();
  socket.on('message', (b) => waiting.get(tidOf(b))?.(b));
  let realm = '';
  let nonce = Buffer.alloc(0);

  const exchange = (msg: Buffer): Promise<Buffer> => new Promise((resolve, reject) => {
    const tid = tidOf(msg);
    // Loopback: a retransmission after 500 ms covers a lost datagram.
    const retry = setTimeout(() => socket.send(msg, opts.port, '127.0.0.1'), 500);
    const fail = setTimeout(() => { waiting.delete(tid); reject(new Error('no answer from coturn in 3 s')); }, 3000);
    waiting.set(tid, (b) => { clearTimeout(retry); clearTimeout(fail); waiting.delete(tid); resolve(b); });
    socket.send(msg, opts.port, '127.0.0.1');
  });

  const authed = async (method: number, attributes: [number, Buffer][]): Promise<'success' | number> => {
    const key = longTermKey(opts.secret, opts.username, realm);
    const res = await exchange(request(method, [
      ...attributes,
      [ATTR.USERNAME, Buffer.from(opts.username)], [ATTR.REALM, Buffer.from(realm)], [ATTR.NONCE, nonce],
    ], key));
    return isSuccess(res.readUInt16BE(0)) ? 'success' : errorCodeOf(res) ?? -1;
  };
  const udp = Buffer.from([17, 0, 0, 0]);

  return {
    async allocate() {
      const challenge = await exchange(request(METHOD.ALLOCATE, [[ATTR.REQUESTED_TRANSPORT, udp]]));
      realm = attrValue(challenge, ATTR.REALM)?.toString('utf8') ?? '';
      nonce = Buffer.from(attrValue(challenge, ATTR.NONCE) ?? Buffer.alloc(0));
      return authed(METHOD.ALLOCATE, [[ATTR.REQUESTED_TRANSPORT, udp]]);
    },
    refresh(lifetimeSeconds) {
      const v = Buffer.alloc(4);
      v.writeUInt32BE(lifetimeSeconds, 0);
      return authed(METHOD.REFRESH, [[ATTR.LIFETIME, v]]);
    },
    createPermission(peerIp) {
      return authed(METHOD.CREATE_PERMISSION, [[ATTR.XOR_PEER_ADDRESS, xorPeer(peerIp, 0)]]);
    },
    channelBind(channel, peerIp, peerPort) {
      const c = Buffer.alloc(4);
      c.writeUInt16BE(channel, 0);
      return authed(METHOD.CHANNEL_BIND, [[ATTR.CHANNEL_NUMBER, c], [ATTR.XOR_PEER_ADDRESS, xorPeer(peerIp, peerPort)]]);
    },
    close: () => socket.close(),
  };
}
