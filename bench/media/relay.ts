/**
 * The physical-limit reference: a plain UDP relay (receive one packet, send it to N targets),
 * no parsing, no encryption. Started as a child process pinned to the worker's core.
 *   node bench/media/relay.ts <fanout> <targetPort>   prints its listening port, then relays
 */
import { createSocket } from 'node:dgram';

const fanout = Number(process.argv[2] ?? 1);
const target = Number(process.argv[3]);
const sock = createSocket('udp4');
sock.on('message', (msg) => {
  for (let i = 0; i < fanout; i++) sock.send(msg, target, '127.0.0.1');
});
sock.bind(0, '127.0.0.1', () => {
  process.stdout.write(`${(sock.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
