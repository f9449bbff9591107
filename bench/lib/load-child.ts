/**
 * The media load's processes (bench/lib/media-load.ts), apart from the server's event loop.
 *   node load-child.ts generator <maxSeconds>
 *     reads JSON lines on stdin: {"cmd":"start","port":n} sends a 720p simulcast camera to the
 *     producer's PlainTransport; {"cmd":"stop"} exits. Prints {"ready":true} once bound.
 *   node load-child.ts sink <maxSeconds>
 *     binds a UDP socket for the consumers, prints {"sinkPort":n}, then blocks (reads nothing):
 *     packets are delivered through loopback up to the socket and dropped there by the kernel,
 *     which costs the sending worker what delivery costs and the other core nothing (a remote
 *     receiver's work is not the server's).
 * Either exits by itself after maxSeconds, whatever happens.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { Vp8SimulcastGenerator } from './rtp-generator.ts';
import { CAMERA } from '../media/fanout.ts';

const role = process.argv[2];
const maxSeconds = Number(process.argv[3] ?? 120);
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();

if (role === 'sink') {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1', () => {
    const port = (sock.address() as { port: number }).port;
    // Then block the event loop (no reads, no CPU) until the deadline, and exit.
    process.stdout.write(`${JSON.stringify({ sinkPort: port })}\n`, () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, maxSeconds * 1000);
      process.exit(0);
    });
  });
} else {
  const gen = new Vp8SimulcastGenerator({ ssrcs: [1001, 1002, 1003], payloadType: 101 });
  await gen.bind();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const msg = JSON.parse(line) as { cmd: string; port?: number };
    if (msg.cmd === 'start') gen.start({ address: '127.0.0.1', port: msg.port! }, 2000, CAMERA);
    else if (msg.cmd === 'stop') break;
  }
  gen.stop();
  process.exit(0);
}
