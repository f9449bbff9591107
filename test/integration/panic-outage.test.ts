import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import type { SpoolEntry } from '../../src/safety/panic/spool.ts';
import { openStore } from '../../src/store/open.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { safetyClient, type SafetyClient, type Transport } from '../helpers/safety-client.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { mountTmpfs, loopbackServerEnv, startServerProcess, type ServerProcess, type Tmpfs } from '../helpers/server-process.ts';
import { holdSqliteWriteLock, type SqliteWriteLock } from '../helpers/sqlite-lock.ts';
import { observeFor, pace, until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * Store outages against the real server process (node src/main.ts) and real stores (SQLite on a
 * filesystem the test fills or write-locked by another process, PostgreSQL hung or stopped): every
 * alarm reaches the desks and the clinician within 1 s of its raise, and after recovery (with a
 * SIGKILL in the middle of it) nothing is lost, the events made during the outage are stored once,
 * and the audit chain verifies.
 */

const ROOT = join(import.meta.dirname, '../..');
const KEYS = [{ id: 'outage', key: randomBytes(32) }];
const TIERS = [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }, { afterSeconds: 2, notify: ['desk'] }];
const SLA_MS = 1000;
/**
 * How long a store outage lasts at least (unless a case says longer): longer than every interval of
 * the panic channel's recovery: the backlog retry and the reload of open incidents (every 1 s), the
 * store's fail-fast gate letting one trial call through (every 1 s), the store call deadline (2 s),
 * the spool's write probe (every 10 s).
 */
const LONGER_THAN_EVERY_RETRY_MS = 11_000;

const cleanups: (() => void)[] = [];
afterAll(() => { for (const c of cleanups.splice(0).reverse()) c(); });

function env(dataDir: string, storeUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return loopbackServerEnv({ dataDir, storeUrl, keys: KEYS }, { SFU_PANIC_TIERS: JSON.stringify(TIERS), ...extra });
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function tmpfsOrSkip(size: string, skip: (why: string) => void): Tmpfs | undefined {
  const t = mountTmpfs(size);
  if ('skip' in t) {
    console.warn(`\n!! SKIPPED: ${t.skip}\n`);
    skip(t.skip);
    return undefined;
  }
  cleanups.push(() => t.unmount());
  return t;
}

async function postgresOrSkip(skip: (why: string) => void): Promise<TestPostgres | undefined> {
  const pg = await startPostgres();
  if (!pg) {
    skip('PostgreSQL is not available');
    return undefined;
  }
  cleanups.push(() => pg.stop());
  return pg;
}

interface Person { room: string; identity: string; transport: Transport; rtc: RtcClient; safety: SafetyClient }
interface Scene { clinicians: Map<string, Person>; students: Person[]; desks: SafetyClient[]; close(): void }

const mint = (room: string, identity: string, role: 'clinician' | 'student') => mintToken(TEST_SECRET, { room, identity, role, ttlSeconds: 600 });

/** Joined participants (a clinician and students per room, /rtc and /safety), and two desks (WebSocket, long-polling). */
async function populate(srv: ServerProcess, rooms: string[], studentsPerRoom: number): Promise<Scene> {
  const clinicians = new Map<string, Person>();
  const students: Person[] = [];
  let n = 0;
  for (const room of rooms) {
    const join = async (identity: string, role: 'clinician' | 'student'): Promise<Person> => {
      const transport: Transport = n++ % 2 === 0 ? 'websocket' : 'polling';
      const rtc = await RtcClient.connect(srv.wsUrl, { token: mint(room, identity, role) });
      await rtc.request('join', {});
      return { room, identity, transport, rtc, safety: await safetyClient(srv.url, mint(room, identity, role), transport) };
    };
    clinicians.set(room, await join('doc', 'clinician'));
    for (let i = 0; i < studentsPerRoom; i++) students.push(await join(`kid-${i}`, 'student'));
  }
  const desks = [
    await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-ws', rooms: ['*'] }), 'websocket'),
    await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-poll', rooms: ['*'] }), 'polling'),
  ];
  return {
    clinicians, students, desks,
    close() {
      for (const p of [...clinicians.values(), ...students]) { p.safety.close(); p.rtc.close(); }
      for (const d of desks) d.close();
    },
  };
}

interface Raised { id: string; key: string; room: string; sent: number; replied: number; by: Person }

let keyN = 0;
async function raiseFrom(by: Person): Promise<Raised> {
  const key = `outage-${process.pid}-${++keyN}`;
  const sent = performance.now();
  const res = await by.safety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: key }, 10_000);
  if (!res.ok) throw new Error(`raise refused: ${JSON.stringify(res.error)}`);
  return { id: res.data.incidentId, key, room: by.room, sent, replied: performance.now(), by };
}

/**
 * One alarm from every student (WebSocket and long-polling), then a second wave once `retried`
 * holds: a retry round of the backlog has met the outage, so that the second wave queues behind a
 * failed recovery attempt.
 */
async function raiseWaves(scene: Scene, retried: () => boolean | Promise<boolean>): Promise<Raised[]> {
  const raised = await Promise.all(scene.students.map((s) => raiseFrom(s)));
  await until(retried, 'a retry round of the panic backlog during the outage', 8000);
  raised.push(...await Promise.all(scene.students.map((s) => raiseFrom(s))));
  expect(raised.length).toBeGreaterThanOrEqual(20);
  expect(new Set(raised.map((r) => r.by.transport))).toEqual(new Set<Transport>(['websocket', 'polling']));
  return raised;
}

/** When (performance.now) the client got the first live panic:alert of the incident; undefined if it never did within `waitMs`. */
async function alertAt(client: SafetyClient, incidentId: string, waitMs = 2000): Promise<number | undefined> {
  const match = (e: { event: string; data: any }) => e.event === 'panic:alert' && e.data?.incident?.id === incidentId && !e.data.replay;
  await until(() => client.events.some(match), `alert ${incidentId}`, waitMs).catch(() => undefined);
  return client.events.find(match)?.at;
}

/** Raise-to-receipt at both desks and the room's clinician, in ms (Infinity when never received). */
async function deliveries(scene: Scene, r: Raised): Promise<{ deskWs: number; deskPoll: number; clinician: number }> {
  const [deskWs, deskPoll, clinician] = await Promise.all([...scene.desks, scene.clinicians.get(r.room)!.safety]
    .map(async (c) => ((await alertAt(c, r.id)) ?? Infinity) - r.sent));
  return { deskWs: deskWs!, deskPoll: deskPoll!, clinician: clinician! };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Every alarm reached both desks and its room's clinician within SLA_MS of its raise (asserted per alarm); logs p50/p99/max. */
async function expectDeliveredInTime(scene: Scene, raised: Raised[], measure: string): Promise<void> {
  const per = await Promise.all(raised.map(async (r) => ({ alarm: r.key, from: r.by.transport, ms: await deliveries(scene, r) })));
  const lat = per.flatMap((p) => Object.values(p.ms));
  console.info(JSON.stringify({ measure: `${measure}-raise-to-delivery-ms`, alarms: raised.length, receipts: lat.length, p50: round1(pct(lat, 50)), p99: round1(pct(lat, 99)), max: round1(Math.max(...lat)) }));
  expect(per.filter((p) => !Object.values(p.ms).every((ms) => ms < SLA_MS))).toEqual([]);
}

async function metric(srv: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

const SPOOL_FILES = ['panic-spool.jsonl.flushing', 'panic-spool.jsonl'];

function spoolFiles(dataDir: string): string[] {
  return SPOOL_FILES.filter((f) => existsSync(join(dataDir, f)));
}

/** The entries in the spool files, oldest first (read only: a torn last line is skipped, not cut). */
function spoolEntries(dataDir: string): SpoolEntry[] {
  return spoolFiles(dataDir).flatMap((f) => readFileSync(join(dataDir, f), 'utf8').split('\n').filter(Boolean).flatMap((line) => {
    try { return [JSON.parse(line) as SpoolEntry]; } catch { return []; }
  }));
}

/** Every raise and every expected event (made during the outage) is in the spool: none of them reached the store directly. */
function expectSpooled(dataDir: string, raised: Raised[], expectEvents: Map<string, string[]>): void {
  const entries = spoolEntries(dataDir);
  const spooled = new Set(entries.map((e) => (e.op === 'raise' ? `${e.raise.id} raise` : `${e.event.incidentId} ${e.event.type}`)));
  const want = [...raised.map((r) => `${r.id} raise`), ...[...expectEvents].flatMap(([id, types]) => types.map((t) => `${id} ${t}`))];
  expect(want.filter((w) => !spooled.has(w))).toEqual([]);
}

/** Opens the store the server used, checks the incidents and events, logs what was lost, and runs the audit:verify script. */
async function verifyStored(measure: string, dataDir: string, storeUrl: string, raised: Raised[], expectEvents: Map<string, string[]>): Promise<void> {
  const store = await openStore(storeUrl, dataDir, KEYS);
  const missing: string[] = [];
  const wrongEvents: string[] = [];
  let verified: { ok: boolean };
  try {
    for (const r of raised) {
      const inc = await store.incidents.get(r.id);
      if (!inc) { missing.push(r.id); continue; }
      expect(inc.clientIncidentId).toBe(r.key);
      const types = (await store.incidents.events(r.id)).map((e) => e.type);
      const want = expectEvents.get(r.id) ?? [];
      // The events made during the outage are there, each once; escalations (timer-driven) at most once per tier.
      for (const t of want) if (types.filter((x) => x === t).length !== 1) wrongEvents.push(`${r.id}: ${t} x${types.filter((x) => x === t).length}`);
      if (types.filter((x) => x === 'escalated').length > 1) wrongEvents.push(`${r.id}: escalated twice`);
    }
    verified = await store.verifyAudit();
  } finally {
    await store.close();
  }
  const cli = spawnSync(process.execPath, ['scripts/audit-verify.ts'], { cwd: ROOT, env: { ...process.env, ...env(dataDir, storeUrl) }, encoding: 'utf8' });
  const events = [...expectEvents.values()].reduce((n, types) => n + types.length, 0);
  console.info(JSON.stringify({ measure: `${measure}-after-recovery`, raised: raised.length, lost: missing.length, outageEvents: events, wrongEvents: wrongEvents.length, auditVerify: cli.stdout.trim() }));
  expect(missing).toEqual([]);
  expect(wrongEvents).toEqual([]);
  expect(verified.ok).toBe(true);
  expect(cli.status, cli.stderr).toBe(0);
  expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true });
}

/** Acks (by a desk or the clinician), cancels and resolves some incidents; returns the events expected per incident. */
async function respond(scene: Scene, raised: Raised[]): Promise<Map<string, string[]>> {
  const expected = new Map<string, string[]>();
  const acks = raised.filter((_, i) => i % 3 === 0);
  await Promise.all(acks.map(async (r, i) => {
    const who = i % 3 === 0 ? scene.desks[0]! : i % 3 === 1 ? scene.desks[1]! : scene.clinicians.get(r.room)!.safety;
    const res = await who.send('panic:ack', { incidentId: r.id });
    expect(res.ok, JSON.stringify(res)).toBe(true);
    expected.set(r.id, ['acknowledged']);
  }));
  const resolved = acks.slice(0, 2);
  for (const r of resolved) {
    expect((await scene.desks[0]!.send('panic:resolve', { incidentId: r.id, outcome: 'continued' })).ok).toBe(true);
    expected.get(r.id)!.push('resolved');
  }
  const cancelled = raised.find((_, i) => i % 3 === 1)!;
  expect((await cancelled.by.safety.send('panic:cancel', { incidentId: cancelled.id })).ok).toBe(true);
  expected.set(cancelled.id, ['cancelled']);
  return expected;
}

/**
 * SIGKILL at the first sign of the replay (a write to the SQLite store, or a spool file renamed,
 * written or removed; not the spool's periodic write probe), or after `fallbackMs`.
 */
function killOnRecovery(srv: ServerProcess, dirs: string[], fallbackMs: number): Promise<string> {
  return new Promise((resolve) => {
    const watchers: FSWatcher[] = [];
    let done = false;
    const fire = (why: string) => {
      if (done) return;
      done = true;
      srv.child.kill('SIGKILL');
      for (const w of watchers) w.close();
      clearTimeout(t);
      resolve(why);
    };
    for (const d of dirs) {
      watchers.push(watch(d, (_ev, file) => {
        if (file && (file.startsWith('records.db') || (file.startsWith('panic-spool') && !file.endsWith('.probe')))) fire(`${file} changed`);
      }));
    }
    const t = setTimeout(() => fire('fallback timer'), fallbackMs);
  });
}

/** A store outage, from the moment it begins to the moment it ends. */
interface Outage {
  /** In the measure names: `outage-<name>-...`. */
  readonly name: string;
  readonly dataDir: string;
  readonly storeUrl: string;
  /** Rooms of a clinician and students (default 2 rooms of 6 students). */
  readonly rooms?: string[];
  readonly studentsPerRoom?: number;
  begin(): void | Promise<void>;
  /** Ends the outage (the kill watcher is armed before). */
  end(): void | Promise<void>;
  /**
   * The outage lasts at least this long from begin (default LONGER_THAN_EVERY_RETRY_MS); what is
   * left of it once the alarms are handled is an observation window.
   */
  readonly minMs?: number;
  /** Checks while the store is out, after the alarms were delivered. */
  during?(srv: ServerProcess, scene: Scene, raised: Raised[]): void | Promise<void>;
}

/**
 * The whole case against a real server process: during the outage, two waves of alarms (the second
 * after a retry round met the outage) reach both desks and the clinicians within 1 s each, and are
 * acknowledged, resolved and cancelled (all of it spooled); the outage ends and the server is
 * SIGKILLed at the first sign of the replay; after a restart the backlog is written, the open
 * incidents are replayed to a desk, nothing is lost, every event made during the outage is stored
 * exactly once, and the audit chain verifies.
 */
async function outageThenKillMidRecovery(o: Outage): Promise<void> {
  const measure = `outage-${o.name}`;
  let srv = await startServerProcess(env(o.dataDir, o.storeUrl));
  const scene = await populate(srv, o.rooms ?? ['ra', 'rb'], o.studentsPerRoom ?? 6);
  try {
    await o.begin();
    const began = performance.now();
    const raised = await raiseWaves(scene, () => existsSync(join(o.dataDir, 'panic-spool.jsonl.flushing')));
    await expectDeliveredInTime(scene, raised, measure);
    await o.during?.(srv, scene, raised);
    const expected = await respond(scene, raised);
    // The outage was real: the store refused or did not answer in time, the spool took every entry.
    expect(await metric(srv, 'sfu_panic_store_fallbacks_total')).toBeGreaterThan(0);
    expect(await metric(srv, 'sfu_panic_unpersisted')).toBe(0);
    // Escalation (tier 1 after 2 s) of every alarm nobody acknowledged, during the outage.
    const unacked = raised.filter((r) => !expected.get(r.id)?.includes('acknowledged'));
    await until(() => unacked.every((r) => scene.desks[0]!.events.some((e) => e.event === 'panic:escalated' && e.data.incidentId === r.id)), 'escalations', 5000);
    expectSpooled(o.dataDir, raised, expected);
    const spooledBefore = await metric(srv, 'sfu_panic_spooled');
    // The store stays out minMs in all (an observation window: the escalations are done, nothing more is spooled, so the
    // kill watcher armed next sees the replay and nothing else).
    await observeFor(Math.max(0, (o.minMs ?? LONGER_THAN_EVERY_RETRY_MS) - (performance.now() - began)));

    // The outage ends; the server is SIGKILLed at the first sign of the replay into the store.
    const sqliteDir = o.storeUrl.startsWith('sqlite:') ? [dirname(o.storeUrl.slice('sqlite:'.length))] : [];
    const killed = killOnRecovery(srv, [...new Set([o.dataDir, ...sqliteDir])], 5000);
    await o.end();
    const outageMs = performance.now() - began;
    const why = await killed;
    await srv.exited;
    const leftInSpool = spoolEntries(o.dataDir).length;
    const atKill = await openStore(o.storeUrl, o.dataDir, KEYS);
    const storedAtKill = (await Promise.all(raised.map((r) => atKill.incidents.get(r.id)))).filter(Boolean).length;
    await atKill.close();
    console.info(JSON.stringify({ measure: `${measure}-kill`, why, outageMs: Math.round(outageMs), spooledBefore, raised: raised.length, incidentsInStoreAtKill: storedAtKill, spoolFilesAtKill: spoolFiles(o.dataDir), entriesLeftInSpoolAtKill: leftInSpool }));
    // In the middle of the recovery: the replay had begun, and part of the backlog was still to write.
    expect(why).not.toBe('fallback timer');
    expect(leftInSpool).toBeGreaterThan(0);
    scene.close();

    srv = await startServerProcess(env(o.dataDir, o.storeUrl));
    await until(async () => spoolFiles(o.dataDir).length === 0 && (await metric(srv, 'sfu_panic_spooled')) === 0, 'spool replayed after restart', 10_000);
    // Responders connecting now get every incident still open (all but the resolved ones) as a replay.
    const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-after', rooms: ['*'] }), 'websocket');
    const replayed = await desk.waitFor('panic:replayed');
    desk.close();
    expect(replayed.count).toBe(raised.length - [...expected.values()].filter((t) => t.includes('resolved')).length);
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    expect((await srv.stop()).code).toBe(0);
    await verifyStored(measure, o.dataDir, o.storeUrl, raised, expected);
  } finally {
    scene.close();
    await srv.kill();
  }
}

describe('panic channel during store outages (real server process, real stores)', () => {
  it('SQLite on a full filesystem for 11 s: >= 20 alarms delivered within 1 s; SIGKILL mid-recovery; 0 lost, acks kept, audit intact', async (ctx) => {
    const disk = tmpfsOrSkip('16m', (why) => ctx.skip(why));
    if (!disk) return;
    await outageThenKillMidRecovery({
      name: 'sqlite-full',
      dataDir: tempDir('sfu-outage-a-'),
      storeUrl: `sqlite:${join(disk.dir, 'records.db')}`,
      rooms: ['ra', 'rb', 'rc', 'rd'],
      studentsPerRoom: 3,
      begin() { disk.fill(); },
      end() { disk.free(); },
    });
  }, 90_000);

  it('SQLite write-locked by another process for 11 s: >= 20 alarms delivered within 1 s; SIGKILL mid-recovery; 0 lost, acks kept, audit intact', async () => {
    const dataDir = tempDir('sfu-outage-lock-');
    let lock: SqliteWriteLock | undefined;
    await outageThenKillMidRecovery({
      name: 'sqlite-locked',
      dataDir,
      storeUrl: '',
      async begin() {
        lock = await holdSqliteWriteLock(join(dataDir, 'records.db'));
        cleanups.push(() => lock!.kill());
      },
      async end() { await lock!.release(); },
    });
  }, 60_000);

  it('data dir full (store and spool): alarms still delivered within 1 s, held in memory and reported, written once space returns', async (ctx) => {
    const disk = tmpfsOrSkip('16m', (why) => ctx.skip(why));
    if (!disk) return;
    const dataDir = disk.dir;
    const srv = await startServerProcess(env(dataDir, ''));
    const scene = await populate(srv, ['fa', 'fb'], 6);
    try {
      disk.fill();
      // The second wave once a retry round has failed to move the held entries to the spool.
      let afterFirstWave: number | undefined;
      const raised = await raiseWaves(scene, async () => {
        const failures = await metric(srv, 'sfu_panic_spool_failures_total');
        afterFirstWave ??= failures;
        return failures > afterFirstWave;
      });
      await expectDeliveredInTime(scene, raised, 'outage-datadir-full');
      const expected = await respond(scene, raised);

      // Loud: not ready, with the reason; the metric counts what only memory holds.
      const ready = await fetch(`${srv.url}/readyz`);
      expect(ready.status).toBe(503);
      const body = await ready.json() as { checks: Record<string, boolean>; reasons?: Record<string, string> };
      expect(body.checks.panic).toBe(false);
      expect(body.reasons?.panic).toMatch(/panic spool cannot be written \(ENOSPC.*held in memory only/);
      const held = await metric(srv, 'sfu_panic_unpersisted');
      expect(held).toBeGreaterThanOrEqual(raised.length);
      expect(srv.output()).toContain('PANIC ENTRY NOT PERSISTED');

      const freed = performance.now();
      disk.free();
      await until(async () => (await metric(srv, 'sfu_panic_unpersisted')) === 0 && (await metric(srv, 'sfu_panic_spooled')) === 0, 'held entries written', 15_000);
      const writtenMs = performance.now() - freed;
      await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, 'ready again', 5000);
      console.info(JSON.stringify({ measure: 'outage-datadir-full-written-after-space-returns-ms', entries: held, ms: Math.round(writtenMs) }));
      scene.close();
      expect((await srv.stop()).code).toBe(0);
      await verifyStored('outage-datadir-full', dataDir, '', raised, expected);
    } finally {
      scene.close();
      await srv.kill();
    }
  }, 90_000);

  it('PostgreSQL hung (SIGSTOP) for 20 s: alarms delivered within 1 s, the first after the store deadline; SIGKILL mid-recovery; 0 lost', async (ctx) => {
    const pg = await postgresOrSkip((why) => ctx.skip(why));
    if (!pg) return;
    let resume: (() => void) | undefined;
    await outageThenKillMidRecovery({
      name: 'postgres-hung',
      dataDir: tempDir('sfu-outage-pg-'),
      storeUrl: pg.url,
      begin() { resume = pg.hang(); },
      end() { resume!(); },
      minMs: 20_000,
      during(_srv, scene, raised) {
        // The location came from memory: a store read would have hung (and the alert gone without one).
        const alert = scene.desks[0]!.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === raised[0]!.id)!.data;
        expect(alert.location).toMatchObject({ region: 'US-CA', description: 'Test School, room 4', source: 'self-reported' });
        expect(alert.emergencyContact).toEqual({ name: 'Test Contact', phone: '+1 555 0100' });
      },
    });
  }, 90_000);

  it('PostgreSQL stopped (pg_ctl stop) for 11 s, then started: alarms delivered within 1 s; SIGKILL mid-recovery; 0 lost, acks kept, audit intact', async (ctx) => {
    const pg = await postgresOrSkip((why) => ctx.skip(why));
    if (!pg) return;
    await outageThenKillMidRecovery({
      name: 'postgres-stopped',
      dataDir: tempDir('sfu-outage-pgstop-'),
      storeUrl: pg.url,
      begin() { pg.shutdown(); },
      // In the background: this process's kill watcher must see the replay begin while pg_ctl waits.
      end: () => pg.startInBackground(),
    });
  }, 60_000);

  it('SIGKILL at a random moment during 200 raises, 5 rounds: 0 acknowledged alarms lost, each reached the desks live', async () => {
    const rounds: object[] = [];
    for (let round = 0; round < 5; round++) {
      const dataDir = tempDir('sfu-outage-c-');
      let srv = await startServerProcess(env(dataDir, '', { SFU_PANIC_MAX_OPEN_PER_PARTICIPANT: '100' }));
      const scene = await populate(srv, ['ka', 'kb'], 2);
      const acked: Raised[] = [];
      let sent = 0;
      try {
        // 200 raises from 4 students (2 WebSocket, 2 long-polling), one every 4 ms; the kill lands at a random moment.
        const killAt = 50 + Math.random() * 950;
        const started = performance.now();
        const killer = new Promise<void>((resolve) => setTimeout(() => { srv.child.kill('SIGKILL'); resolve(); }, killAt));
        for (let i = 0; i < 200 && performance.now() - started < killAt; i++) {
          void raiseFrom(scene.students[i % 4]!).then((r) => { acked.push(r); }, () => undefined);
          sent++;
          await pace(4);
        }
        await killer;
        await srv.exited;
        // Every reply the server sent before it died has been read once each student's socket has
        // seen the connection end (the end comes after the data); a raise still waiting then is unacked.
        await until(() => scene.students.every((s) => !s.safety.socket.connected), 'every student to see the server gone');
        // Every acknowledged alarm reached both desks and the clinician before the kill: nothing arrives after it.
        const notLive = { deskWs: 0, deskPoll: 0, clinician: 0 };
        for (const r of acked) {
          const seen = (c: SafetyClient) => c.events.some((e) => e.event === 'panic:alert' && e.data?.incident?.id === r.id);
          if (!seen(scene.desks[0]!)) notLive.deskWs++;
          if (!seen(scene.desks[1]!)) notLive.deskPoll++;
          if (!seen(scene.clinicians.get(r.room)!.safety)) notLive.clinician++;
        }
        scene.close();
        srv = await startServerProcess(env(dataDir, '', { SFU_PANIC_MAX_OPEN_PER_PARTICIPANT: '100' }));
        const restarted = srv;
        expect(await srv.stop(), restarted.output()).toEqual({ code: 0, signal: null });
        const store = await openStore('', dataDir, KEYS);
        let lost = 0;
        for (const r of acked) if (!(await store.incidents.get(r.id))) lost++;
        const open = await store.incidents.open();
        await store.close();
        const keys = open.map((i) => i.clientIncidentId);
        expect(new Set(keys).size).toBe(keys.length); // no duplicates
        rounds.push({ round, killAtMs: Math.round(killAt), sent, acked: acked.length, stored: open.length, lost, notLive });
        expect(lost).toBe(0);
        expect(notLive).toEqual({ deskWs: 0, deskPoll: 0, clinician: 0 });
      } finally {
        scene.close();
        await srv.kill();
      }
    }
    console.info(JSON.stringify({ measure: 'panic-sigkill-rounds', rounds }));
  }, 120_000);
});
