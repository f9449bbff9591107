import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import { CLOSE_BUDGET_MS, CLOSE_DEADLINES_MS } from '../../src/shutdown.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { startServer as startInProcess } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * SIGTERM on the real entry point (`node src/main.ts`, what `npm start` runs) while clients keep
 * starting WebSocket upgrades, some of them only half: the process must exit within
 * drain.timeoutSeconds + the close budget, with the documented code (docs/operations.md).
 */

const DRAIN_SECONDS = 1;
/** The documented bound: the drain's wait, every close stage at its deadline, and a second for exiting. */
const EXIT_BOUND_MS = DRAIN_SECONDS * 1000 + CLOSE_BUDGET_MS + 1000;
const RUNS = 20;
const PARALLEL = 5;

interface Server {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly base: string;
  readonly port: number;
  readonly secret: string;
  readonly exited: Promise<number | null>;
  /** Parsed JSON log lines so far. */
  readonly logs: () => any[];
  readonly output: () => string;
}

async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sfu-shutdown-'));
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: join(import.meta.dirname, '../..'),
    env: {
      ...process.env, // carries MEDIASOUP_WORKER_BIN (see /usr/local/bin/vt, scripts/bootstrap.mjs)
      SFU_DATA_DIR: dataDir, SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1',
      SFU_LOG_LEVEL: 'info', SFU_DRAIN_TIMEOUT_SECONDS: String(DRAIN_SECONDS), ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const failed = exited.then((code) => { throw new Error(`server exited with ${code} before listening:\n${out}`); });
  try {
    await Promise.race([until(() => out.includes('signalling: '), 'the server to listen', 20_000), failed]);
  } catch (err) {
    // Not listening in time (a loaded host): the child must not outlive the test.
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    failed.catch(() => undefined);
  }
  const base = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  const logs = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return {
    child, dataDir, base, port: Number(new URL(base).port), exited, logs, output: () => out,
    secret: readFileSync(join(dataDir, 'jwt-secret'), 'utf8').trim(),
  };
}

/**
 * Raw TCP clients that keep starting WebSocket upgrades until stopped: full and half handshakes,
 * to /rtc (with a valid token) and to socket.io, some hanging up right after (the peer's FIN that
 * used to leave the server's end in CLOSE-WAIT), some holding their socket open and never reading.
 */
class UpgradeFlood {
  started = 0;
  startedAfterSigterm = 0;
  sigtermAt = 0;
  readonly statuses = new Map<string, number>();
  /** Upgrades answered by the close's refusal (503 "shutting down"), not the drain's. */
  refusedByClose = 0;
  readonly #sockets = new Set<Socket>();
  #stopped = false;
  #holders = 0;
  static readonly MAX_HOLDERS = 100;
  readonly #port: number;
  /** Full upgrades, then half-sent ones (cut before the end of the headers). */
  readonly #requests: string[];

  constructor(port: number, rtcToken: string, concurrency: number) {
    this.#port = port;
    const upgrade = (path: string) => [
      `GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: Upgrade', 'Upgrade: websocket',
      'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', '',
    ].join('\r\n');
    const rtc = upgrade(`/rtc?token=${rtcToken}`);
    const sio = upgrade('/socket.io/?EIO=4&transport=websocket');
    this.#requests = [rtc, sio, rtc.slice(0, rtc.indexOf('Upgrade:')), sio.slice(0, sio.indexOf('Sec-WebSocket-Key')), rtc.slice(0, 9)];
    for (let i = 0; i < concurrency; i++) this.#startOne(i);
  }

  #startOne(n: number): void {
    if (this.#stopped) return;
    const req = this.#requests[n % this.#requests.length]!;
    // A third hang up at once (a FIN right after the request, full or half), a third after a
    // moment, a third hold on (up to MAX_HOLDERS of them) until the server closes them. A holder
    // gives its place in the churn to a new client at once, so new upgrades never stop coming.
    const style = Math.floor(n / this.#requests.length) % 3;
    const hold = style === 2 && this.#holders < UpgradeFlood.MAX_HOLDERS;
    const s = connect(this.#port, '127.0.0.1');
    this.started++;
    if (this.sigtermAt) this.startedAfterSigterm++;
    this.#sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      const status = /^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1];
      if (status) this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      if (d.includes('server is shutting down')) this.refusedByClose++;
    });
    if (hold) this.#holders++;
    let connected = false;
    s.on('close', () => {
      this.#sockets.delete(s);
      if (hold) this.#holders--;
      if (!hold || !connected) this.#startOne(n + 1);
    });
    s.once('connect', () => {
      connected = true;
      s.write(req);
      if (hold) this.#startOne(n + 1);
      else if (style === 0) s.end();
      else setTimeout(() => s.end(), 5 + (n % 50)).unref();
    });
  }

  stop(): void {
    this.#stopped = true;
    for (const s of this.#sockets) s.destroy();
  }
}

interface RunResult { code: number | null; ms: number; flood: UpgradeFlood; logs: any[] }

/** One server: real clients on /rtc (one joined) and /safety, then SIGTERM during an upgrade flood. */
async function sigtermDuringUpgrades(): Promise<RunResult> {
  const server = await startServer();
  const clients: { close(): void }[] = [];
  let flood: UpgradeFlood | undefined;
  try {
    const ws = server.base.replace(/^http/, 'ws') + '/rtc';
    const token = (identity: string, role: 'clinician' | 'student') => mintToken(server.secret, { room: 'r1', identity, role });
    const joined = await RtcClient.connect(ws, { token: token('clin', 'clinician') });
    clients.push({ close: () => joined.ws.close() });
    expect((await joined.request('join', {})).roomId).toBe('r1');
    for (let i = 0; i < 2; i++) {
      const c = await RtcClient.connect(ws, { token: token(`s${i}`, 'student') });
      clients.push({ close: () => c.ws.close() });
    }
    const safety: SafetyClient[] = [
      await safetyClient(server.base, mintToken(server.secret, { room: 'r1', identity: 'stud-1', role: 'student' }), 'websocket'),
      await safetyClient(server.base, mintToken(server.secret, { room: 'r1', identity: 'stud-2', role: 'student' }), 'polling'),
      await safetyClient(server.base, mintDeskToken(server.secret, { identity: 'desk-1', rooms: ['*'] }), 'websocket'),
    ];
    clients.push(...safety);

    flood = new UpgradeFlood(server.port, token('flood', 'student'), 20);
    await until(() => flood!.started >= 100, 'the flood to get going');
    flood.sigtermAt = Date.now();
    const t0 = performance.now();
    server.child.kill('SIGTERM');
    const code = await Promise.race([
      server.exited,
      new Promise<'late'>((r) => setTimeout(() => r('late'), EXIT_BOUND_MS + 5000).unref()),
    ]);
    const ms = performance.now() - t0;
    if (code === 'late') {
      server.child.kill('SIGKILL');
      throw new Error(`no exit ${EXIT_BOUND_MS + 5000} ms after SIGTERM:\n${server.output().slice(-3000)}`);
    }
    return { code, ms, flood, logs: server.logs() };
  } finally {
    flood?.stop();
    for (const c of clients) c.close();
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

/** A raw TCP client that sends `text` and records what comes back and when the server closes it. */
function rawClient(port: number, text: string) {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  socket.once('connect', () => socket.write(text));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed, received: () => received };
}

const upgradeTo = (port: number, path: string) => [
  `GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: Upgrade', 'Upgrade: websocket',
  'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', '',
].join('\r\n');

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false;
  // A zombie waiting to be reaped is not running.
  return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

describe('shutdown (SIGTERM) always ends', () => {
  it(`exits in time with code 0 while upgrades keep arriving during close, in ${RUNS} of ${RUNS} runs`, async () => {
    const results: RunResult[] = [];
    for (let i = 0; i < RUNS; i += PARALLEL) {
      results.push(...await Promise.all(Array.from({ length: Math.min(PARALLEL, RUNS - i) }, () => sigtermDuringUpgrades())));
    }
    const ms = results.map((r) => Math.round(r.ms)).sort((a, b) => a - b);
    const complete = results.map((r) => r.logs.find((l) => l.msg === 'shutdown complete'));
    const slowest = (stage: string) => Math.max(...complete.map((c) => c?.stageMs?.[stage] ?? 0));
    console.log([
      `SIGTERM to exit over ${RUNS} runs: min ${ms[0]} ms, median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms.at(-1)} ms (bound ${EXIT_BOUND_MS} ms, drain wait ${DRAIN_SECONDS} s included)`,
      `slowest stage: ${['connections', 'http', 'workers', 'store'].map((s) => `${s} ${slowest(s)} ms`).join(', ')}`,
      `per run, upgrades started after SIGTERM: ${results.map((r) => r.flood.startedAfterSigterm).join(',')}`,
      `per run, upgrades refused by the close: ${results.map((r) => r.flood.refusedByClose).join(',')}`,
      `per run, unanswered closes cut: ${complete.map((c) => c?.unansweredCloses).join(',')}`,
    ].join('\n'));
    for (const r of results) {
      const forced = r.logs.filter((l) => l.msg?.startsWith('shutdown forced'));
      expect({ code: r.code, forced }).toEqual({ code: 0, forced: [] });
      expect(r.ms).toBeLessThan(EXIT_BOUND_MS);
      expect(r.flood.startedAfterSigterm).toBeGreaterThan(0);
      expect(r.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
    }
    // Upgrades kept arriving during the close, and were refused there.
    expect(results.reduce((n, r) => n + r.flood.refusedByClose, 0)).toBeGreaterThan(0);
  }, 120_000);

  it('exits non-zero in time, naming the stage, when a mediasoup worker hangs (SIGSTOP)', async () => {
    const server = await startServer();
    let pid = 0;
    try {
      pid = server.logs().find((l) => l.msg === 'mediasoup worker started')!.pid;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGSTOP');
      const ws = server.base.replace(/^http/, 'ws') + '/rtc';
      const c = await RtcClient.connect(ws, { token: mintToken(server.secret, { room: 'r1', identity: 's', role: 'student' }) });
      const flood = new UpgradeFlood(server.port, mintToken(server.secret, { room: 'r1', identity: 'f', role: 'student' }), 20);
      await until(() => flood.started >= 50, 'the flood to get going');
      const t0 = performance.now();
      server.child.kill('SIGTERM');
      const code = await server.exited;
      const ms = performance.now() - t0;
      flood.stop();
      c.ws.close();
      console.log(`SIGTERM to exit with a stopped worker: ${Math.round(ms)} ms (bound ${EXIT_BOUND_MS} ms)`);
      expect(code).toBe(1);
      expect(ms).toBeLessThan(EXIT_BOUND_MS);
      const forced = server.logs().filter((l) => l.msg?.startsWith('shutdown forced'));
      expect(forced).toHaveLength(1);
      expect(forced[0].forced).toEqual(['workers']);
      expect(server.logs().some((l) => l.msg === 'mediasoup worker did not exit in time: killed' && l.pid === pid)).toBe(true);
      // The stopped worker was killed, not left behind.
      await until(() => !alive(pid), 'the stopped worker to be gone', 5000);
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a second SIGTERM during the drain closes at once and exits 1', async () => {
    const server = await startServer({ SFU_DRAIN_TIMEOUT_SECONDS: '30' });
    try {
      const ws = server.base.replace(/^http/, 'ws') + '/rtc';
      const c = await RtcClient.connect(ws, { token: mintToken(server.secret, { room: 'r1', identity: 'c', role: 'clinician' }) });
      await c.request('join', {});
      const t0 = performance.now();
      server.child.kill('SIGTERM');
      await c.waitFor('serverDraining');
      // The server takes a signal within a second of the first as the same one (docs/operations.md):
      // the second must come later than that, so this waits for time itself, not for a condition.
      await until(() => performance.now() - t0 > 1100, 'a second to pass');
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(1);
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(1100 + CLOSE_BUDGET_MS);
      expect((await c.closeInfo).code).toBe(4410);
      expect(server.logs().some((l) => l.msg === 'second signal: closing now')).toBe(true);
      expect(server.logs().some((l) => l.msg === 'shutdown complete')).toBe(true);
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  });

  it('close() is idempotent, refuses upgrades that arrive during it, and ends every connection', async () => {
    const server = await startInProcess();
    const port = Number(new URL(server.url).port);
    // A socket.io WebSocket whose client never answers (the connections stage waits for it), a
    // half-sent upgrade and a half-sent request (neither ever completes).
    const silent = rawClient(port, upgradeTo(port, '/socket.io/?EIO=4&transport=websocket'));
    await until(() => silent.received().startsWith('HTTP/1.1 101'), 'the socket.io upgrade');
    const half = rawClient(port, upgradeTo(port, '/rtc').slice(0, 40));
    const partial = rawClient(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await until(() => half.socket.writableLength === 0 && partial.socket.writableLength === 0 && half.socket.readyState === 'open' && partial.socket.readyState === 'open', 'the half requests to be sent');

    const t0 = performance.now();
    const first = server.handle.close();
    expect(server.handle.close()).toBe(first);
    // While the connections stage waits for the silent client, upgrades are refused and destroyed.
    const during = [rawClient(port, upgradeTo(port, '/rtc')), rawClient(port, upgradeTo(port, '/socket.io/?EIO=4&transport=websocket'))];
    await Promise.all(during.map((c) => c.closed));
    for (const c of during) expect(c.received()).toMatch(/^HTTP\/1\.1 503 [^]*SERVER_DRAINING/);

    const report = await first;
    const ms = performance.now() - t0;
    expect(report.forced).toEqual([]);
    expect(report.stageMs.connections).toBeGreaterThanOrEqual(CLOSE_DEADLINES_MS.connections - 50);
    expect(ms).toBeLessThan(CLOSE_BUDGET_MS);
    await Promise.all([silent.closed, half.closed, partial.closed]);
    expect(await server.handle.close()).toBe(report);
    await server.close();
  });

  it('a stage that does not finish is forced at its deadline and reported', async () => {
    const server = await startInProcess();
    const store = server.handle.store as { close(): Promise<void> };
    const realClose = store.close.bind(store);
    store.close = () => new Promise<void>(() => undefined);
    try {
      const t0 = performance.now();
      const report = await server.handle.close();
      const ms = performance.now() - t0;
      expect(report.forced).toEqual(['store']);
      expect(ms).toBeGreaterThanOrEqual(CLOSE_DEADLINES_MS.store - 50);
      expect(ms).toBeLessThan(CLOSE_BUDGET_MS);
    } finally {
      await realClose();
      await server.close();
    }
  });
});
