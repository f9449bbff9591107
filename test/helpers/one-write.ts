import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/** A masked client text frame (RFC 6455 5.2) carrying `text`. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len])
    : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff])
      : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  const mask = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, masked]);
}

/** The TCP socket under a connected ws client. */
export function tcpOf(ws: WebSocket): Socket {
  const socket: unknown = Reflect.get(ws, '_socket');
  if (!socket || typeof socket !== 'object' || !('write' in socket)) throw new Error('ws client has no TCP socket');
  return socket as Socket;
}

/**
 * Writes several WebSocket messages in ONE TCP write, so the server reads them in one chunk and
 * handles them back to back: the way a race is provoked. With `thenDestroy`, the socket is
 * destroyed right after the write (a client that vanishes mid-request).
 */
export function sendInOneWrite(ws: WebSocket, messages: readonly object[], opts: { thenDestroy?: boolean } = {}): void {
  const socket = tcpOf(ws);
  socket.write(Buffer.concat(messages.map((m) => clientFrame(JSON.stringify(m)))));
  if (opts.thenDestroy) socket.destroy();
}
