/**
 * The abusive client of bench/signalling/flood.ts, in its own process (so that its CPU is not the
 * server's event loop):
 *   node flood-child.ts '<json: {wsUrl, ratePerSecond, maxSeconds, tokens: {flood, join, slow}}>'
 * Three abusers at once, each reconnecting whenever the server ends its connection:
 *   flood  joins once, then sends `ratePerSecond` cheap valid requests (pauseProducer of a producer
 *          that does not exist) and resumes its session after every cut;
 *   join   sends `join {}` (no consent: refused, and audited) over and over;
 *   slow   joins, stops reading its socket, and floods like `flood` (a slow reader).
 * Runs until a line "stop" on stdin (or maxSeconds), then prints one JSON line of counts and exits.
 */
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { TEST_CONSENT, TEST_LOCATION } from '../../test/helpers/ws-client.ts';

interface Options {
  wsUrl: string;
  ratePerSecond: number;
  maxSeconds: number;
  tokens: { flood: string; join: string; slow: string };
}

const opts = JSON.parse(process.argv[2]!) as Options;
const counts = {
  sent: 0,
  connections: 0,
  refusedUpgrades: 0,
  closes: {} as Record<string, number>,
  responses: {} as Record<string, number>,
};
let stopping = false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bump = (o: Record<string, number>, k: string) => { o[k] = (o[k] ?? 0) + 1; };

/** Opens a socket; resolves undefined when the upgrade is refused (then waits a little). */
function connect(token: string): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${opts.wsUrl}?token=${encodeURIComponent(token)}`);
    ws.once('open', () => {
      counts.connections++;
      ws.once('close', (code, reason) => bump(counts.closes, `${code} ${reason.toString()}`));
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { ok?: boolean; error?: { code: string } };
        if ('ok' in msg) bump(counts.responses, msg.ok ? 'ok' : msg.error!.code);
      });
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      counts.refusedUpgrades++;
      res.resume();
      resolve(undefined);
    });
    ws.once('error', () => resolve(undefined));
  });
}

/** Sends a request and waits for its response (only on a reading socket). */
function request(ws: WebSocket, id: string, method: string, data: object): Promise<any> {
  return new Promise((resolve) => {
    const done = (msg: unknown) => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
      resolve(msg);
    };
    const onMessage = (raw: WebSocket.RawData) => {
      const msg = JSON.parse(raw.toString());
      if (msg.id === id) done(msg);
    };
    const onClose = () => done(undefined);
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.send(JSON.stringify({ id, method, data }));
    counts.sent++;
  });
}

/** Sends the cheap request at the rate (in 10 ms batches) until the socket closes. */
async function floodUntilClosed(ws: WebSocket): Promise<void> {
  const perBatch = Math.max(1, Math.round(opts.ratePerSecond / 100));
  let n = 0;
  while (!stopping && ws.readyState === WebSocket.OPEN) {
    for (let i = 0; i < perBatch && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(`{"id":${n++},"method":"pauseProducer","data":{"producerId":"nope"}}`);
      counts.sent++;
    }
    await sleep(10);
  }
  if (ws.readyState !== WebSocket.CLOSED) {
    if (stopping) ws.terminate();
    else await new Promise((r) => ws.once('close', r));
  }
}

/** Joins (the first time) or resumes; returns the resume token, or undefined when refused. */
async function joinOrResume(ws: WebSocket, resumeToken: string | undefined): Promise<string | undefined> {
  const res = await request(ws, 'j', 'join', resumeToken ? { resumeToken } : { consent: TEST_CONSENT, location: TEST_LOCATION });
  return res?.ok ? res.data.resumeToken : undefined;
}

async function flooder(token: string, reading: boolean): Promise<void> {
  let resumeToken: string | undefined;
  while (!stopping) {
    const ws = await connect(token);
    if (!ws) { await sleep(50); continue; }
    resumeToken = (await joinOrResume(ws, resumeToken)) ?? resumeToken;
    // A slow reader: stops reading its socket (responses pile up on the server's side).
    if (!reading) (Reflect.get(ws, '_socket') as { pause(): void }).pause();
    await floodUntilClosed(ws);
  }
}

async function joinRetrier(token: string): Promise<void> {
  let k = 0;
  while (!stopping) {
    const ws = await connect(token);
    if (!ws) { await sleep(50); continue; }
    while (!stopping && ws.readyState === WebSocket.OPEN) await request(ws, `r${k++}`, 'join', {});
    if (stopping) ws.terminate();
  }
}

setTimeout(() => { stopping = true; }, opts.maxSeconds * 1000).unref();
createInterface({ input: process.stdin }).on('line', (line) => { if (line.trim() === 'stop') stopping = true; });
await Promise.all([flooder(opts.tokens.flood, true), joinRetrier(opts.tokens.join), flooder(opts.tokens.slow, false)]);
process.stdout.write(`${JSON.stringify(counts)}\n`);
process.exit(0);
