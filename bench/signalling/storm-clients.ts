/**
 * The clients of the bell-time storm (bench/signalling/joins.ts, stormBench), in their own process
 * so that the server's event loop carries only the server:
 *   node storm-clients.ts '<json: {wsUrl, secret, joins, ratePerSecond, roomSize, prefix}>'
 * Opens `joins` signalling connections at `ratePerSecond` (a fixed schedule, not waiting for
 * answers), each joining with consent and location; keeps them open until all have answered, then
 * prints one JSON line: per join its connect and join times (ms) and its error code if refused.
 */
import WebSocket from 'ws';
import { mintToken } from '../../src/auth/mint.ts';
import { TEST_CONSENT, TEST_LOCATION } from '../../test/helpers/ws-client.ts';

interface Options { wsUrl: string; secret: string; joins: number; ratePerSecond: number; roomSize: number; prefix: string }

const opts = JSON.parse(process.argv[2]!) as Options;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sockets: WebSocket[] = [];

interface Outcome { connectMs: number; joinMs: number; code?: string }

function joinOne(i: number): Promise<Outcome> {
  const room = `${opts.prefix}-${Math.floor(i / opts.roomSize)}`;
  const role = i % opts.roomSize === 0 ? 'clinician' : 'student';
  const token = mintToken(opts.secret, { room, identity: `p${i}`, role, ttlSeconds: 600 });
  const t0 = performance.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(`${opts.wsUrl}?token=${encodeURIComponent(token)}`);
    sockets.push(ws);
    let t1 = 0;
    const fail = (code: string) => resolve({ connectMs: t1 ? t1 - t0 : performance.now() - t0, joinMs: t1 ? performance.now() - t1 : 0, code });
    ws.once('unexpected-response', (_req, res) => fail(`HTTP_${res.statusCode}`));
    ws.once('error', () => fail('SOCKET_ERROR'));
    ws.once('open', () => {
      t1 = performance.now();
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { id?: number; ok?: boolean; error?: { code: string } };
        if (msg.id !== 1) return;
        if (msg.ok) resolve({ connectMs: t1 - t0, joinMs: performance.now() - t1 });
        else fail(msg.error?.code ?? 'UNKNOWN');
      });
      ws.send(JSON.stringify({ id: 1, method: 'join', data: { consent: TEST_CONSENT, location: TEST_LOCATION } }));
    });
  });
}

const started = performance.now();
const runs: Promise<Outcome>[] = [];
for (let i = 0; i < opts.joins; i++) {
  const wait = started + (i * 1000) / opts.ratePerSecond - performance.now();
  if (wait > 0) await sleep(wait);
  runs.push(joinOne(i));
}
const outcomes = await Promise.all(runs);
const elapsedMs = performance.now() - started;
for (const ws of sockets) ws.close();
process.stdout.write(`${JSON.stringify({ elapsedMs, outcomes })}\n`);
process.exit(0);
