/**
 * Signalling fuzz run (issue #11, item 7) against a real server in this process: buildApp() with a
 * temp data dir, one real mediasoup worker, real WebSocket clients on 127.0.0.1. Random, structured
 * and stateful agents (bench/fuzz/agents.ts) send frames until the message budget or the time
 * limit is spent; then every fuzz client is closed, the reconnect grace is let run out, and the
 * run checks that the node is still serving and holds nothing:
 *  - no uncaught exception or unhandled rejection in the process (counted by handlers installed
 *    for the run) and no mediasoup worker death;
 *  - every response was a well-formed envelope with a code from ERROR_CODES, and never
 *    INTERNAL_ERROR (each one is a finding: method, request, response, the connection's last
 *    messages, and the server's error log lines);
 *  - /healthz answers 200; a fresh client joins, creates its transports, produces and leaves;
 *  - GET /admin/rooms (with the app's admin token) and the rooms registry read zero rooms;
 *  - Object.prototype was not polluted.
 * Prints one JSON line (stdout) and, from the command line, writes bench/results/fuzz-<date>.json.
 *
 *   node bench/fuzz/run.ts [--messages 100000] [--seconds 600] [--seed N] [--agents 16]
 *                          [--grace 1] [--no-lone-surrogates] [--no-write]
 *
 * Replay: the seed fixes every agent's choices (each agent has its own stream); the interleaving
 * of agents follows the scheduler, so a replay repeats the same messages but not always the same
 * timing. Loopback only; bounded in messages and time; stops by itself.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HANDLERS } from '../../src/signalling/handlers/index.ts';
import { FuzzConn, FuzzStats, clip, formatEvent, type Finding } from './client.ts';
import { AdminAgent, Budget, RawAgent, StatefulAgent, StructuredAgent, type AgentEnv } from './agents.ts';
import { METHODS, allowLoneSurrogates, validConsent, validLocation, emptyKnowledge } from './generators.ts';
import { MediaShapes } from './media-shapes.ts';
import { Rng, freshSeed } from './prng.ts';
import { startFuzzServer } from './server.ts';
import { WorkerWatch } from './worker-watch.ts';

export interface FuzzOptions {
  readonly messages: number;
  readonly seconds: number;
  readonly seed?: number | undefined;
  /** Agents: a quarter raw, a third structured, the rest stateful. */
  readonly agents?: number;
  readonly reconnectGraceSeconds?: number;
  readonly maxParticipants?: number;
  /** An operator agent kicking identities and closing rooms through the admin API (default true). */
  readonly admin?: boolean;
  /** Lone UTF-16 surrogates in generated strings (default true; false looks past the findings they cause). */
  readonly loneSurrogates?: boolean;
  readonly log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HANG_MS = 10_000;
/** The shared rooms' names move on every so many messages (bench/fuzz/agents.ts, AgentEnv.roomFor). */
const ROOM_EPOCH_MESSAGES = 5000;
const SAMPLES_IN_RESULT = 5;

function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(undefined); });
  });
}

function errorSample(err: unknown): string {
  return clip(err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err), 1500);
}

export async function runFuzz(opts: FuzzOptions) {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seed = (opts.seed ?? freshSeed()) >>> 0;
  const agents = opts.agents ?? 16;
  const graceSeconds = opts.reconnectGraceSeconds ?? 1;
  allowLoneSurrogates(opts.loneSurrogates ?? true);
  log(`fuzz: seed ${seed} (replay: node bench/fuzz/run.ts --seed ${seed} --messages ${opts.messages} --agents ${agents})`);

  // Crashes: anything thrown or rejected that nobody handled, in this process, during the run.
  const crashes = { uncaughtException: 0, unhandledRejection: 0, samples: [] as string[] };
  const onException = (err: unknown) => {
    crashes.uncaughtException++;
    if (crashes.samples.length < 10) crashes.samples.push(`uncaughtException ${errorSample(err)}`);
  };
  const onRejection = (err: unknown) => {
    crashes.unhandledRejection++;
    if (crashes.samples.length < 10) crashes.samples.push(`unhandledRejection ${errorSample(err)}`);
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).length;

  const rng = new Rng(seed);
  const stats = new FuzzStats();
  const watch = new WorkerWatch();
  const stuckSeen = new Set<string>();
  const noteStuckWorkerRequests = () => {
    for (const r of watch.stuck(HANG_MS)) {
      const key = `${r.method} ${r.handlerId} ${r.data}`;
      if (stuckSeen.has(key)) continue;
      stuckSeen.add(key);
      stats.find({
        kind: 'workerRequestUnanswered', conn: '-', method: r.method, request: r.data,
        detail: `handler ${r.handlerId}; waiting ${r.waitingMs} ms; lone UTF-16 surrogate at ${r.loneSurrogateAt ?? '(none)'}`, recent: [],
      });
    }
  };
  const uninstall = () => {
    watch.restore();
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
  const srv = await startFuzzServer({ reconnectGraceSeconds: graceSeconds, maxParticipants: opts.maxParticipants ?? 6, pingIntervalSeconds: 5, logLevel: 'error' })
    .catch((err: unknown) => {
      uninstall();
      throw err;
    });
  const maxMessageBytes = srv.handle.config.signalling.maxMessageBytes;
  const started = performance.now();
  const conns = new Set<FuzzConn>();
  let sweeper: NodeJS.Timeout | undefined;
  try {
    // The router's capabilities, for mediasoup-client's device (the templates of produce).
    const probe = await FuzzConn.open(srv.wsUrl, srv.mint({ room: 'fuzz-probe', identity: 'probe', role: 'clinician' }), new FuzzStats(), maxMessageBytes, 'fuzz-probe', 'probe');
    if (!probe) throw new Error('cannot connect to the server under fuzz');
    const probeJoin = await probe.sendText(JSON.stringify({ id: 1, method: 'join', data: { consent: validConsent(rng, emptyKnowledge('clinician', undefined)), location: validLocation(rng) } }), 'probe');
    if (!probeJoin?.ok) throw new Error(`probe join failed: ${JSON.stringify(probeJoin)}`);
    const media = await MediaShapes.create(probeJoin.data.routerRtpCapabilities);
    await probe.sendText(JSON.stringify({ id: 2, method: 'leave' }), 'probe');
    await within(probe.closed, 5000);

    const budget = new Budget(stats, opts.messages, opts.seconds);
    const env: AgentEnv = {
      srv, stats, media, budget, maxMessageBytes, graceMs: graceSeconds * 1000, conns, resumeTokens: new Map(),
      roomFor: (r, prefix, count) => `${prefix}-${Math.floor(stats.sent / ROOM_EPOCH_MESSAGES)}-${r.int(0, count - 1)}`,
      pace: paceFor(srv.handle.config),
    };
    const raw = Math.max(1, Math.round(agents / 4));
    const structured = Math.max(1, Math.round(agents / 3));
    const list: (RawAgent | StructuredAgent | StatefulAgent | AdminAgent)[] = Array.from({ length: agents }, (_, i) => {
      const r = rng.fork();
      return i < raw ? new RawAgent(r, env, i) : i < raw + structured ? new StructuredAgent(r, env, i) : new StatefulAgent(r, env, i);
    });
    if (opts.admin ?? true) list.push(new AdminAgent(rng.fork(), env, agents));
    sweeper = setInterval(() => {
      for (const c of conns) c.sweep(HANG_MS);
      noteStuckWorkerRequests();
    }, 1000);
    let lastReport = performance.now();
    const progress = setInterval(() => {
      const now = performance.now();
      if (now - lastReport < 10_000) return;
      lastReport = now;
      log(`fuzz: ${stats.sent} messages, ${Math.round((now - started) / 1000)} s, ${conns.size} open connections, internal errors ${stats.counts.internalError ?? 0}, crashes ${crashes.uncaughtException + crashes.unhandledRejection}`);
    }, 1000);
    const runs = list.map((a) => a.run().catch((err: unknown) => {
      stats.find({ kind: 'agentFailed', conn: a.constructor.name, detail: errorSample(err), recent: [] });
    }));
    // The agents stop on the budget; give them a bounded time to finish their current step.
    while (!budget.done) await sleep(50);
    const stopped = await within(Promise.all(runs), 30_000);
    clearInterval(progress);
    if (!stopped) stats.find({ kind: 'agentsDidNotStop', conn: '-', detail: 'agents still running 30 s after the budget was spent (a request never answered?)', recent: [] });
    budget.stop();
    const fuzzSeconds = (performance.now() - started) / 1000;

    // Let answers in flight arrive, then close every fuzz client.
    await Promise.all([...conns].map((c) => c.settle(3000)));
    for (const c of conns) c.sweep(HANG_MS);
    noteStuckWorkerRequests();
    const open = [...conns];
    for (const c of open) c.close();
    await within(Promise.all(open.map((c) => c.closed)), 10_000);
    clearInterval(sweeper);

    // The reconnect grace runs out for every detached participant; rooms close when empty.
    const rooms = srv.handle.rooms;
    const graceDeadline = performance.now() + graceSeconds * 1000 + 10_000;
    await sleep(graceSeconds * 1000 + 500);
    while (rooms.rooms.length > 0 && performance.now() < graceDeadline) await sleep(100);
    const admin = { authorization: `Bearer ${srv.handle.secrets.adminToken}` };
    const adminRooms = await fetch(`${srv.url}/admin/rooms`, { headers: admin }).then(async (r) => ({ status: r.status, body: await r.json() as { rooms?: { roomId: string; participants: number }[] } }));
    const leftover = await Promise.all(rooms.rooms.map(async (room) => ({
      roomId: room.id,
      closed: room.closed,
      participants: room.participants.map((p) => ({
        participantId: p.id, identity: p.identity, role: p.role, state: (p as { state?: string }).state, connected: p.connected,
        transports: p.transports.size, producers: p.producers.size, consumers: p.consumers.size,
      })),
      admin: await fetch(`${srv.url}/admin/rooms/${encodeURIComponent(room.id)}/participants`, { headers: admin }).then((r) => r.json()).catch((e: unknown) => String(e)),
      lastEvents: (stats.roomLog.get(room.id) ?? []).slice(-40).map(formatEvent),
    })));
    const registryRoomsAfterGrace = rooms.rooms.length;

    // Still serving: health, and a fresh client that joins, creates its transports, produces and leaves.
    const healthz = await fetch(`${srv.url}/healthz`).then((r) => r.status).catch(() => 0);
    const fresh = await freshClientCheck(srv, stats, maxMessageBytes, media);
    await sleep(200);
    const registryRoomsAtEnd = rooms.rooms.length;
    const adminRoomsAtEnd = await fetch(`${srv.url}/admin/rooms`, { headers: admin }).then(async (r) => ((await r.json()) as { rooms?: unknown[] }).rooms?.length ?? -1).catch(() => -1);

    const workerDeaths = Object.entries(srv.errorsByMessage).filter(([m]) => m.includes('worker died')).reduce((n, [, c]) => n + c, 0);
    const polluted = Object.getOwnPropertyNames(Object.prototype).length !== protoKeysBefore || ({} as Record<string, unknown>).polluted !== undefined || ({} as Record<string, unknown>).isAdmin !== undefined;
    const methodsNotFuzzed = [...HANDLERS.keys()].filter((m) => !(METHODS as readonly string[]).includes(m));

    const internalErrors = stats.counts.internalError ?? 0;
    const crashCount = crashes.uncaughtException + crashes.unhandledRejection + workerDeaths;
    const serving = healthz === 200 && fresh.ok;
    const zeroRooms = registryRoomsAfterGrace === 0 && adminRooms.status === 200 && (adminRooms.body.rooms?.length ?? -1) === 0 && registryRoomsAtEnd === 0 && adminRoomsAtEnd === 0;
    const violationKinds = Object.keys(stats.counts).filter((k) => k !== 'internalError');
    const keep = Number(process.env.FUZZ_RECENT_OUT ?? 15);
    const samples = (kind: string) => (stats.findings[kind] ?? []).slice(0, SAMPLES_IN_RESULT).map((f: Finding) => ({
      ...f, recent: f.recent.slice(-keep), ...(f.roomRecent ? { roomRecent: f.roomRecent.slice(-keep * 2) } : {}),
    }));
    const result = {
      bench: 'fuzz',
      seed,
      ok: crashCount === 0 && internalErrors === 0 && serving && zeroRooms && !polluted && violationKinds.length === 0,
      messages: stats.sent,
      targetMessages: opts.messages,
      stoppedBy: stats.sent >= opts.messages ? 'messages' : 'time',
      durationSeconds: Math.round((performance.now() - started) / 100) / 10,
      fuzzSeconds: Math.round(fuzzSeconds * 10) / 10,
      messagesPerSecond: Math.round(stats.sent / fuzzSeconds),
      agents: { raw, structured, stateful: agents - raw - structured },
      reconnectGraceSeconds: graceSeconds,
      loneSurrogates: opts.loneSurrogates ?? true,
      sentBy: stats.sentBy,
      responses: stats.responses,
      responsesByMethod: stats.responsesByMethod,
      notifications: stats.notifications,
      closes: stats.closes,
      upgrades: stats.upgrades,
      admin: stats.admin,
      connections: stats.connections,
      unansweredAtClose: stats.unansweredAtClose,
      unansweredBy: stats.unansweredBy,
      internalErrors,
      internalErrorSamples: samples('internalError'),
      crashes: { ...crashes, workerDeaths, total: crashCount },
      serving: { healthz, freshClient: fresh },
      rooms: { registryAfterGrace: registryRoomsAfterGrace, admin: adminRooms.body.rooms?.length ?? null, adminStatus: adminRooms.status, registryAtEnd: registryRoomsAtEnd, adminAtEnd: adminRoomsAtEnd, leftover },
      prototypePolluted: polluted,
      violations: Object.fromEntries(violationKinds.map((k) => [k, stats.counts[k]])),
      violationSamples: Object.fromEntries(violationKinds.map((k) => [k, samples(k)])),
      serverErrorLog: { lines: srv.errorLines, byMessage: srv.errorsByMessage, samples: srv.errorLog.filter((l) => l.msg === 'handler failed').slice(0, 5) },
      workerRequests: watch.requests,
      mediaTemplates: media.templates,
      methodsNotFuzzed,
    };
    return result;
  } finally {
    if (sweeper) clearInterval(sweeper);
    for (const c of conns) c.terminate();
    await srv.close().catch((err: unknown) => { crashes.samples.push(`server close failed: ${errorSample(err)}`); });
    // Late rejections from the shutdown still count: give them a tick before removing the handlers.
    await sleep(100);
    uninstall();
  }
}

/**
 * The client pace: 90% of the server's per-connection request budget when it has one
 * (signalling.rateLimit), so that most frames reach the handlers and the floods (deliberately
 * over it) are what meets RATE_LIMITED.
 */
function paceFor(config: object): { rate: number; burst: number } {
  const rl = (config as { signalling?: { rateLimit?: { requestsPerSecond?: number; burst?: number } } }).signalling?.rateLimit;
  if (!rl?.requestsPerSecond || !rl.burst) return { rate: 0, burst: 50 };
  return { rate: rl.requestsPerSecond * 0.9, burst: Math.max(1, Math.floor(rl.burst * 0.9)) };
}

/** A new participant in a new room: join, both transports, a produced mic, leave (1000). */
async function freshClientCheck(srv: Awaited<ReturnType<typeof startFuzzServer>>, stats: FuzzStats, maxMessageBytes: number, media: MediaShapes) {
  const steps: Record<string, string> = {};
  const conn = await FuzzConn.open(srv.wsUrl, srv.mint({ room: 'fuzz-fresh', identity: 'fresh-clinician', role: 'clinician' }), stats, maxMessageBytes, 'fuzz-fresh', 'fresh');
  if (!conn) return { ok: false, steps: { connect: 'refused' } };
  const rng = new Rng(1);
  const call = async (id: number, method: string, data: unknown) => {
    const r = await within(conn.sendText(JSON.stringify({ id, method, data }), 'fresh'), 10_000);
    steps[method === 'createTransport' ? `createTransport ${(data as { direction: string }).direction}` : method] = r ? (r.ok ? 'ok' : r.error?.code ?? '?') : 'no answer';
    return r;
  };
  const joined = await call(1, 'join', { consent: validConsent(rng, emptyKnowledge('clinician', undefined)), location: validLocation(rng), displayName: 'Fresh' });
  const send = await call(2, 'createTransport', { direction: 'send' });
  await call(3, 'createTransport', { direction: 'recv', rtpCapabilities: media.deviceCaps });
  if (send?.ok) {
    const mic = media.forSource(rng, 'mic');
    await call(4, 'produce', { transportId: send.data.transportId, kind: mic.kind, rtpParameters: mic.rtpParameters, source: 'mic' });
  }
  await call(5, 'leave', {});
  const closed = await within(conn.closed, 5000);
  steps.close = closed ? String(closed.code) : 'not closed';
  const ok = joined?.ok === true && Object.entries(steps).every(([k, v]) => (k === 'close' ? v === '1000' : v === 'ok'));
  return { ok, steps };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.main) {
  const num = (name: string, d: number) => {
    const v = arg(name);
    return v === undefined ? d : Number(v);
  };
  const result = await runFuzz({
    messages: num('messages', 100_000),
    seconds: num('seconds', 600),
    seed: arg('seed') === undefined ? undefined : Number(arg('seed')),
    agents: num('agents', 16),
    reconnectGraceSeconds: num('grace', 1),
    loneSurrogates: !process.argv.includes('--no-lone-surrogates'),
  });
  const date = new Date().toISOString();
  const line = JSON.stringify({ ...result, date });
  if (!process.argv.includes('--no-write')) {
    const dir = fileURLToPath(new URL('../results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}fuzz-${date.slice(0, 10)}.json`, `${JSON.stringify({ ...result, date }, null, 2)}\n`);
    process.stderr.write(`wrote bench/results/fuzz-${date.slice(0, 10)}.json\n`);
  }
  process.stderr.write(`fuzz: ${result.messages} messages in ${result.fuzzSeconds} s, seed ${result.seed}: ${result.ok ? 'OK' : 'FINDINGS'} (internal errors ${result.internalErrors}, crashes ${result.crashes.total}, healthz ${result.serving.healthz}, fresh client ${result.serving.freshClient.ok ? 'ok' : JSON.stringify(result.serving.freshClient.steps)}, rooms left ${result.rooms.registryAfterGrace}, violations ${JSON.stringify(result.violations)})\n`);
  process.stdout.write(`${line}\n`);
  // The server is closed; mediasoup-client or ws may keep a handle: end explicitly.
  process.exit(result.ok ? 0 : 1);
}
