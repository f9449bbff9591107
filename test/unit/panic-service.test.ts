import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PanicService, type Alert, type KnownLocation, type PanicFanout, type Raiser, type Tier } from '../../src/safety/panic/service.ts';
import { PanicSpool } from '../../src/safety/panic/spool.ts';
import { WebhookSender } from '../../src/safety/panic/webhooks.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { FakeIncidentStore } from '../helpers/fake-incident-store.ts';
import { FakeLeases } from '../helpers/fake-leases.ts';
import { STORE_SCAN_MS } from '../../src/safety/panic/escalation-rounds.ts';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const DEADLINE = 250;
const TIERS: Tier[] = [
  { afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
  { afterSeconds: 15, notify: ['desk'] },
  { afterSeconds: 60, notify: ['desk'] },
];
const LOCATION: KnownLocation = { description: 'Lincoln Elementary, room 12', region: 'US-CA', source: 'self-reported', capturedAt: '2026-11-22T09:00:00.000Z', emergencyContact: { name: 'R. Contact', phone: '+1 555 0100' } };
const kid: Raiser = { room: 'room-1', participantId: 'pid-kid', identity: 'kid', role: 'student' };
const other: Raiser = { room: 'room-1', participantId: 'pid-other', identity: 'other-kid', role: 'student' };
const doc = { identity: 'doc', role: 'clinician' as const };

interface Seen { what: string; incidentId: string; at: number; tier?: number; reAlert?: boolean; location?: unknown }

/** What would reach people, with the (fake) time it did; `reply` entries are added by `raise` below. */
class RecordingFanout implements PanicFanout {
  readonly seen: Seen[] = [];
  alertClinicians(_room: string, a: Alert) { return this.#alert('clinicians', a); }
  alertDesks(_room: string, a: Alert) { return this.#alert('desk', a); }
  announceToRoom() {}
  update(_room: string, event: string, payload: object) {
    this.seen.push({ what: event, incidentId: (payload as { incidentId: string }).incidentId, at: Date.now() });
  }
  #alert(what: string, a: Alert) {
    this.seen.push({ what, incidentId: a.incident.id, at: Date.now(), tier: a.tier, ...(a.reAlert ? { reAlert: true } : {}), location: a.location });
    return 1;
  }
  of(incidentId: string, what?: string) { return this.seen.filter((s) => s.incidentId === incidentId && (!what || s.what === what)); }
}

let dir: string;
const services: PanicService[] = [];
beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  dir = mkdtempSync(join(tmpdir(), 'sfu-panic-unit-'));
});
afterEach(() => {
  for (const s of services.splice(0)) s.stop();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function setup(opts: { store?: FakeIncidentStore; spoolFile?: string; maxOpen?: number; locate?: (id: string, room: string) => Promise<KnownLocation | undefined> } = {}) {
  const store = opts.store ?? new FakeIncidentStore();
  const spoolFile = opts.spoolFile ?? join(dir, 'panic-spool.jsonl');
  const spool = new PanicSpool(spoolFile);
  const log = createLogger('silent');
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.escalationOwnershipEnabled();
  const service = new PanicService({
    store, spool, tiers: TIERS, webhooks: [], announceToRoom: false, maxOpenPerParticipant: opts.maxOpen ?? 3,
    sender: new WebhookSender({ store, log, metrics, timeoutSeconds: 1, maxBackoffSeconds: 1 }),
    locate: opts.locate ?? (async () => LOCATION), storeDeadlineMs: DEADLINE, retryMs: 1000, startDeadlineMs: 2000, log, metrics,
  });
  services.push(service);
  const fanout = new RecordingFanout();
  return { store, spool, spoolFile, service, fanout, metrics };
}

let keys = 0;
/** Raises and records the reply in the fan-out log (so the test sees what came first). */
function raise(s: { service: PanicService; fanout: RecordingFanout }, who: Raiser = kid, clientIncidentId = `client-key-${++keys}`) {
  return s.service.raise(who, { kind: 'safety', silent: true, clientIncidentId }).then((r) => {
    s.fanout.seen.push({ what: 'reply', incidentId: r.incidentId, at: Date.now() });
    return r;
  });
}

const metric = async (m: Metrics, name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(await m.render())?.[1]);

/** Advances fake time in 100 ms steps until `pred()` holds; fails after `maxMs`. */
async function until(pred: () => boolean, maxMs: number): Promise<void> {
  for (let waited = 0; !pred(); waited += 100) {
    if (waited > maxMs) throw new Error(`condition not met within ${maxMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(100);
  }
}

describe('PanicService state machine (fake store, fake timers)', () => {
  it('fans out tier 0 before answering the raiser, escalates each tier at raisedAt + afterSeconds until acknowledged', async () => {
    const s = setup();
    await s.service.start(s.fanout);
    const a = await raise(s);
    const b = await raise(s, other);
    // Tier 0 reached clinicians and the desk before the reply, at once.
    expect(s.fanout.of(a.incidentId).map((x) => x.what)).toEqual(['clinicians', 'desk', 'reply']);
    expect(s.fanout.of(a.incidentId).every((x) => x.at === T0)).toBe(true);

    await vi.advanceTimersByTimeAsync(14_999);
    expect(s.fanout.seen.filter((x) => x.what === 'panic:escalated')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.fanout.of(a.incidentId, 'panic:escalated').map((x) => x.at - T0)).toEqual([15_000]);
    expect(s.fanout.of(a.incidentId, 'desk').map((x) => [x.tier, x.at - T0])).toEqual([[0, 0], [1, 15_000]]);

    await vi.advanceTimersByTimeAsync(5_000);
    const acked = await s.service.acknowledge(a.incidentId, doc);
    expect(acked).toMatchObject({ acknowledgedBy: 'doc', tier: 1 });
    await vi.advanceTimersByTimeAsync(60_000);
    // a: acknowledged at 20 s, so tier 2 (60 s) never ran; b: nobody acknowledged, tier 2 ran at 60 s.
    expect(s.fanout.of(a.incidentId, 'panic:escalated')).toHaveLength(1);
    expect(s.fanout.of(b.incidentId, 'panic:escalated').map((x) => x.at - T0)).toEqual([15_000, 60_000]);
    expect(s.store.writes).toEqual([
      `raise:${a.incidentId}`, `raise:${b.incidentId}`, `escalated:${a.incidentId}`, `escalated:${b.incidentId}`,
      `acknowledged:${a.incidentId}`, `escalated:${b.incidentId}`,
    ]);
    expect(s.spool.pending).toBe(false);
  });

  it('acknowledge before resolve: a resolve of an unacknowledged incident is refused and records nothing; acknowledge: true acknowledges it first (both events, in order)', async () => {
    const s = setup();
    await s.service.start(s.fanout);
    const a = await raise(s);
    const b = await raise(s, other);
    await expect(s.service.resolve(a.incidentId, doc, 'continued')).rejects.toMatchObject({ code: 'INCIDENT_NOT_ACKNOWLEDGED' });
    expect(s.service.has(a.incidentId)).toBe(true);
    expect(s.store.writes).toEqual([`raise:${a.incidentId}`, `raise:${b.incidentId}`]);
    expect(s.fanout.of(a.incidentId).map((x) => x.what)).toEqual(['clinicians', 'desk', 'reply']);
    // Acknowledged, then resolved: accepted.
    await s.service.acknowledge(a.incidentId, doc);
    expect(await s.service.resolve(a.incidentId, doc, 'continued')).toMatchObject({ state: 'resolved', acknowledgedBy: 'doc', outcome: 'continued' });
    // An explicit ack + resolve in one request: the acknowledgement is recorded and broadcast first.
    const desk = { identity: 'desk-1', role: 'desk' as const };
    expect(await s.service.resolve(b.incidentId, desk, 'false-alarm', undefined, { acknowledge: true })).toMatchObject({ state: 'resolved', acknowledgedBy: 'desk-1' });
    expect(s.fanout.of(b.incidentId).map((x) => x.what)).toEqual(['clinicians', 'desk', 'reply', 'panic:acknowledged', 'panic:resolved']);
    expect(s.store.writes.slice(2)).toEqual([`acknowledged:${a.incidentId}`, `resolved:${a.incidentId}`, `acknowledged:${b.incidentId}`, `resolved:${b.incidentId}`]);
    // Escalation stopped with the acknowledgement: nothing runs at the tier times.
    await vi.advanceTimersByTimeAsync(61_000);
    expect(s.fanout.seen.filter((x) => x.what === 'panic:escalated')).toEqual([]);
  });

  it('a hung store (a promise that never settles) delays neither fan-out nor the reply beyond the deadline', async () => {
    const s = setup();
    await s.service.start(s.fanout);
    s.store.mode = 'hung';
    const pending = raise(s);
    await vi.advanceTimersByTimeAsync(DEADLINE - 1);
    expect(s.fanout.seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const r = await pending;
    expect(s.fanout.of(r.incidentId).map((x) => [x.what, x.at - T0])).toEqual([['clinicians', DEADLINE], ['desk', DEADLINE], ['reply', DEADLINE]]);
    expect(s.spool.entries()).toEqual([{ op: 'raise', raise: expect.objectContaining({ id: r.incidentId }) }]);

    // Behind a spooled entry, the next raise and every event go to the spool at once: no wait at all.
    const before = Date.now();
    const r2 = await raise(s, other);
    await s.service.acknowledge(r.incidentId, doc);
    await s.service.cancel(r2.incidentId, { ...other, role: 'student' });
    expect(Date.now()).toBe(before);
    expect(s.fanout.of(r2.incidentId, 'desk')[0]!.at).toBe(before);
    expect(s.spool.count).toBe(4);
    expect(s.store.hungCalls).toBe(1);
    // Retries do not pile up on the hung store: the flush waits for the late write to settle.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.store.hungCalls).toBe(1);
    expect(s.service.openIncidents().find((i) => i.id === r.incidentId)).toMatchObject({ acknowledgedBy: 'doc' });
  });

  it('a late store write that lands after the deadline is not duplicated by the replay', async () => {
    const s = setup();
    await s.service.start(s.fanout);
    s.store.mode = 'hung';
    const pending = raise(s);
    await vi.advanceTimersByTimeAsync(DEADLINE);
    const r = await pending;
    await s.service.acknowledge(r.incidentId, doc);
    s.store.mode = 'up';
    s.store.release(); // the raise lands now, late
    expect(s.store.writes).toEqual([`raise:${r.incidentId}`]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.store.writes).toEqual([`raise:${r.incidentId}`, `acknowledged:${r.incidentId}`]);
    expect(s.spool.pending).toBe(false);
    expect(await metric(s.metrics, 'sfu_panic_spooled')).toBe(0);
    // Back to direct writes.
    await s.service.resolve(r.incidentId, doc, 'continued');
    expect(s.store.writes.at(-1)).toBe(`resolved:${r.incidentId}`);
    expect(s.spool.pending).toBe(false);
  });

  it('a hung location lookup does not delay the alert beyond the deadline (sent without a location)', async () => {
    const s = setup({ locate: () => new Promise(() => undefined) });
    await s.service.start(s.fanout);
    const pending = raise(s);
    await vi.advanceTimersByTimeAsync(DEADLINE);
    const r = await pending;
    expect(s.fanout.of(r.incidentId, 'desk')).toEqual([expect.objectContaining({ at: T0 + DEADLINE, location: null })]);
  });

  it('a failing store: the raise and every event during the outage are spooled at once, then written in order', async () => {
    const s = setup();
    await s.service.start(s.fanout);
    s.store.mode = 'down';
    const a = await raise(s);
    expect(Date.now()).toBe(T0); // a rejection is not waited for
    expect(s.fanout.of(a.incidentId).map((x) => x.what)).toEqual(['clinicians', 'desk', 'reply']);
    const b = await raise(s, other);
    await vi.advanceTimersByTimeAsync(15_000); // both escalate, spooled
    await s.service.acknowledge(b.incidentId, doc);
    await s.service.cancel(a.incidentId, { ...kid, role: 'student' });
    await s.service.resolve(b.incidentId, doc, 'false-alarm');
    const spooled = s.spool.entries().map((e) => (e.op === 'raise' ? `raise:${e.raise.id}` : `${e.event.type}:${e.event.incidentId}`));
    expect(spooled).toEqual([
      `raise:${a.incidentId}`, `raise:${b.incidentId}`, `escalated:${a.incidentId}`, `escalated:${b.incidentId}`,
      `acknowledged:${b.incidentId}`, `cancelled:${a.incidentId}`, `resolved:${b.incidentId}`,
    ]);
    expect(await metric(s.metrics, 'sfu_panic_spooled')).toBe(7);
    expect(s.store.writes).toEqual([]);

    s.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.store.writes).toEqual(spooled);
    expect(s.spool.pending).toBe(false);
    expect(existsSync(`${s.spoolFile}.flushing`)).toBe(false);
    expect(await metric(s.metrics, 'sfu_panic_spooled')).toBe(0);
    const stored = await s.store.get(b.incidentId);
    expect(stored).toMatchObject({ state: 'resolved', acknowledgedBy: 'doc', outcome: 'false-alarm', tier: 1 });
    // Nothing is written twice on later retries.
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.store.writes).toEqual(spooled);
  });

  it('a flush interrupted by a crash is resumed by the next start, in order, each entry once', async () => {
    const first = setup();
    await first.service.start(first.fanout);
    first.store.mode = 'down';
    const a = await raise(first);
    await first.service.acknowledge(a.incidentId, doc);
    const b = await raise(first, other);
    await first.service.acknowledge(b.incidentId, doc);
    // The store comes back but fails at the third write: the flush stops half way (as a crash would).
    first.store.mode = 'up';
    let n = 0;
    first.store.onWrite = () => { if (++n === 3) throw new Error('crash'); };
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.store.writes).toEqual([`raise:${a.incidentId}`, `acknowledged:${a.incidentId}`]);
    expect(existsSync(`${first.spoolFile}.flushing`)).toBe(true);
    first.service.stop();

    // Restart on the same store and spool.
    first.store.onWrite = undefined;
    const second = setup({ store: first.store, spoolFile: first.spoolFile });
    await second.service.start(second.fanout);
    expect(first.store.writes).toEqual([`raise:${a.incidentId}`, `acknowledged:${a.incidentId}`, `raise:${b.incidentId}`, `acknowledged:${b.incidentId}`]);
    expect(second.spool.pending).toBe(false);
    expect(second.service.openIncidents().map((i) => [i.id, i.acknowledgedBy])).toEqual([[a.incidentId, 'doc'], [b.incidentId, 'doc']]);
  });

  it('a restart with the store still down resumes the spooled incidents (replay, escalation) and writes them later', async () => {
    const first = setup();
    await first.service.start(first.fanout);
    first.store.mode = 'down';
    const a = await raise(first);
    first.service.stop();

    const second = setup({ store: first.store, spoolFile: first.spoolFile });
    await second.service.start(second.fanout);
    expect(second.service.openIncidents().map((i) => i.id)).toEqual([a.incidentId]);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(second.fanout.of(a.incidentId, 'panic:escalated')).toHaveLength(1);
    second.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.store.writes).toEqual([`raise:${a.incidentId}`, `escalated:${a.incidentId}`]);
    // The store's open incidents are read again once it answers: nothing is resumed twice.
    await vi.advanceTimersByTimeAsync(2000);
    expect(second.service.openIncidents()).toHaveLength(1);
  });

  it('over the cap: a raise is recorded on an open incident and re-alerted before the reply; the same key is a duplicate', async () => {
    const s = setup({ maxOpen: 2 });
    await s.service.start(s.fanout);
    const a = await raise(s, kid, 'cap-key-1');
    vi.advanceTimersByTime(1);
    const b = await raise(s, kid, 'cap-key-2');
    const c = await raise(s, kid, 'cap-key-3');
    expect(c).toMatchObject({ incidentId: b.incidentId, reRaised: true, duplicate: false });
    expect(s.fanout.of(b.incidentId).map((x) => x.what + (x.reAlert ? '(re)' : ''))).toEqual(['clinicians', 'desk', 'reply', 'clinicians(re)', 'desk(re)', 'reply']);
    expect(await raise(s, kid, 'cap-key-3')).toMatchObject({ incidentId: b.incidentId, reRaised: true, duplicate: true });
    expect(s.service.openIncidents().map((i) => i.id)).toEqual([a.incidentId, b.incidentId]);

    // Re-raised during an outage: spooled, then stored.
    s.store.mode = 'down';
    const d = await raise(s, kid, 'cap-key-4');
    expect(d.incidentId).toBe(b.incidentId);
    expect(s.service.openIncidents().find((i) => i.id === b.incidentId)?.reRaises).toBe(2);
    s.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(1000);
    expect((await s.store.events(b.incidentId)).map((e) => [e.type, e.data.clientIncidentId])).toEqual([['re-raised', 'cap-key-3'], ['re-raised', 'cap-key-4']]);
    // Once one is resolved, the next raise opens a new incident again.
    await s.service.resolve(a.incidentId, doc, 'continued', undefined, { acknowledge: true });
    const e = await raise(s, kid, 'cap-key-5');
    expect(e.reRaised).toBeUndefined();
    expect(e.incidentId).not.toBe(b.incidentId);
  });

  it('a spool that cannot be written: alarms are still delivered, held in memory, reported, then written to the store', async () => {
    writeFileSync(join(dir, 'not-a-dir'), 'x');
    const s = setup({ spoolFile: join(dir, 'not-a-dir', 'panic-spool.jsonl') });
    await s.service.start(s.fanout);
    // Known at start, before any alarm needs the spool.
    expect(s.service.readiness()).toEqual({ ok: false, reason: expect.stringMatching(/^panic spool cannot be written \(ENOTDIR/) });
    s.store.mode = 'down';
    const a = await raise(s);
    expect(s.fanout.of(a.incidentId).map((x) => [x.what, x.at - T0])).toEqual([['clinicians', 0], ['desk', 0], ['reply', 0]]);
    await s.service.acknowledge(a.incidentId, doc);
    expect(s.service.persistence()).toMatchObject({ spoolWritable: false, unpersisted: 2, spooled: 0 });
    expect(s.service.persistence().spoolError).toMatch(/^ENOTDIR/);
    expect(s.service.readiness()).toEqual({ ok: false, reason: expect.stringMatching(/spool cannot be written.*2 panic raise\(s\)\/event\(s\) held in memory only/) });
    expect(await metric(s.metrics, 'sfu_panic_unpersisted')).toBe(2);

    s.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.store.writes).toEqual([`raise:${a.incidentId}`, `acknowledged:${a.incidentId}`]);
    expect(s.service.persistence()).toMatchObject({ unpersisted: 0 });
    expect(await metric(s.metrics, 'sfu_panic_unpersisted')).toBe(0);
    // Still not ready: the spool itself is still unwritable (probed on every retry).
    expect(s.service.readiness()).toMatchObject({ ok: false, reason: expect.stringMatching(/spool cannot be written/) });
    rmSync(join(dir, 'not-a-dir'));
    mkdirSync(join(dir, 'not-a-dir'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.service.readiness()).toEqual({ ok: true });
  });

  it('a spool that comes back before the store takes the held entries first, in order', async () => {
    writeFileSync(join(dir, 'full'), 'x');
    const s = setup({ spoolFile: join(dir, 'full', 'panic-spool.jsonl') });
    await s.service.start(s.fanout);
    s.store.mode = 'down';
    const a = await raise(s);
    const b = await raise(s, other);
    await s.service.acknowledge(a.incidentId, doc);
    expect(s.service.persistence()).toMatchObject({ unpersisted: 3 });
    rmSync(join(dir, 'full'));
    mkdirSync(join(dir, 'full'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.service.persistence()).toEqual({ spoolWritable: true, spooled: 3, unpersisted: 0 });
    expect(s.spool.entries().map((e) => e.op)).toEqual(['raise', 'raise', 'event']);
    s.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.store.writes).toEqual([`raise:${a.incidentId}`, `raise:${b.incidentId}`, `acknowledged:${a.incidentId}`]);
    expect(s.service.readiness()).toEqual({ ok: true });
  });
});

/** A node of a test cluster: a service on the shared fake store, with its fake leases and its own spool, started. */
async function node(store: FakeIncidentStore, leases: FakeLeases, nodeId: string) {
  const s = setup({ store, spoolFile: join(dir, `${nodeId}-spool.jsonl`) });
  s.service.useOwnership(leases.for(nodeId));
  await s.service.start(s.fanout);
  return s;
}

describe('PanicService escalation ownership (fake leases, shared fake store, fake timers)', () => {
  it('the raising node owns the escalation; when it dies, another node takes it over once the lease ran out, and the next tier fires on time, once', async () => {
    const store = new FakeIncidentStore();
    const leases = new FakeLeases();
    const a = await node(store, leases, 'node-a');
    const b = await node(store, leases, 'node-b');
    const r = await raise(a);
    await vi.advanceTimersByTimeAsync(1);
    expect(leases.leases.get(r.incidentId)?.node).toBe('node-a');
    // Tier 1 (15 s) from A only; B never takes a lease A renews.
    await vi.advanceTimersByTimeAsync(15_000);
    expect(a.fanout.of(r.incidentId, 'panic:escalated').map((x) => x.at - T0)).toEqual([15_000]);
    expect(b.fanout.of(r.incidentId)).toEqual([]);
    expect(b.service.has(r.incidentId)).toBe(false);

    a.service.stop(); // A dies at 15 s: its lease runs out at most 3 s later.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(b.service.has(r.incidentId)).toBe(true);
    expect(leases.leases.get(r.incidentId)?.node).toBe('node-b');
    expect(await metric(b.metrics, 'sfu_escalation_takeovers_total')).toBe(1);
    const taken = (await store.events(r.incidentId)).filter((e) => e.type === 'escalation-taken-over');
    expect(taken.map((e) => e.data)).toEqual([{ node: 'node-b' }]);
    // Tier 1 is not run again; tier 2 at 60 s, from B.
    await vi.advanceTimersByTimeAsync(40_000);
    expect(b.fanout.of(r.incidentId, 'panic:escalated').map((x) => x.at - T0)).toEqual([60_000]);
    expect((await store.events(r.incidentId)).filter((e) => e.type === 'escalated').map((e) => e.data.tier)).toEqual([1, 2]);
    // B answers for it now: a resolve there releases the lease.
    await b.service.resolve(r.incidentId, doc, 'continued', undefined, { acknowledge: true });
    expect(leases.leases.has(r.incidentId)).toBe(false);
  });

  it('a tier already due when the takeover comes fires at once; a restarted node resumes the store\'s incidents only by winning their lease', async () => {
    const store = new FakeIncidentStore();
    const leases = new FakeLeases();
    const a = await node(store, leases, 'node-a');
    const r = await raise(a);
    await vi.advanceTimersByTimeAsync(14_000);
    a.service.stop(); // dies at 14 s; tier 1 is due at 15 s.
    const b = await node(store, leases, 'node-b');
    // Started while A's lease still stands: not resumed at start.
    expect(b.service.has(r.incidentId)).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    const late = b.fanout.of(r.incidentId, 'panic:escalated').map((x) => x.at - T0);
    expect(late).toHaveLength(1);
    expect(late[0]).toBeGreaterThan(15_000);
    expect(late[0]).toBeLessThanOrEqual(18_000);
  });

  it('a node that finds another node holding the lease stops escalating; with Redis down it escalates what it holds', async () => {
    const leases = new FakeLeases();
    const a = setup();
    a.service.useOwnership(leases.for('node-a'));
    await a.service.start(a.fanout);
    leases.down = true;
    const kept = await raise(a);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(a.fanout.of(kept.incidentId, 'panic:escalated')).toHaveLength(1);
    leases.down = false;
    const lost = await raise(a, other);
    await vi.advanceTimersByTimeAsync(1);
    // Node X holds it (and renews it, as far as this test goes: the lease outlasts the test's minutes).
    leases.leases.set(lost.incidentId, { node: 'node-x', until: Date.now() + 600_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.service.has(lost.incidentId)).toBe(false);
    expect(a.service.has(kept.incidentId)).toBe(true);
    expect(await metric(a.metrics, 'sfu_escalation_leases_lost_total')).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.fanout.of(lost.incidentId, 'panic:escalated')).toEqual([]);
  });

  it('incidents another live node owns cost the other nodes one registry read per round: no lease is tried for them, the store is read once per scan period', async () => {
    const store = new FakeIncidentStore();
    const leases = new FakeLeases();
    const a = await node(store, leases, 'node-a');
    const b = await node(store, leases, 'node-b');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await raise(a, { ...kid, participantId: `pid-${i}`, identity: `kid-${i}` })).incidentId);
    await vi.advanceTimersByTimeAsync(4000); // older than a lease
    leases.calls.length = 0;
    const opensBefore = store.calls.filter((c) => c === 'open').length;
    await vi.advanceTimersByTimeAsync(STORE_SCAN_MS);
    const ofB = leases.calls.filter((c) => c.node === 'node-b');
    expect(ofB.filter((c) => c.op === 'hold')).toEqual([]);
    // One registry read and one MGET (of the five leases A holds) per round.
    expect(ofB.filter((c) => c.op === 'registered')).toHaveLength(STORE_SCAN_MS / 1000);
    expect(ofB.filter((c) => c.op === 'unleased').map((c) => c.ids.length)).toEqual(Array(STORE_SCAN_MS / 1000).fill(5));
    // A renews its own every round; nobody else touches them.
    expect(leases.calls.filter((c) => c.node === 'node-a' && c.op === 'hold').map((c) => c.ids.length)).toEqual(Array(STORE_SCAN_MS / 1000).fill(5));
    // One scan each in the period (A and B), not one per round.
    expect(store.calls.filter((c) => c === 'open').length - opensBefore).toBe(2);
    expect(await metric(b.metrics, 'sfu_escalation_takeover_attempts_total{found="registry"}') || 0).toBe(0);
    for (const id of ids) expect(leases.leases.get(id)?.node).toBe('node-a');
  });

  it('an incident the registry does not list (raised while Redis was down, its node dead) is taken over by the store scan; a registered one already resolved is forgotten, not resumed', async () => {
    const store = new FakeIncidentStore();
    const leases = new FakeLeases();
    const a = await node(store, leases, 'node-a');
    leases.down = true;
    const unlisted = await raise(a);
    await vi.advanceTimersByTimeAsync(1);
    a.service.stop(); // A dies before Redis answers again: nothing of it in Redis.
    leases.down = false;
    // A resolved incident whose registry entry outlived it (the removal was lost).
    const gone = await raise(setup({ store }), other);
    await store.append({ incidentId: gone.incidentId, type: 'resolved', actor: 'doc', at: new Date().toISOString(), data: { outcome: 'continued' } });
    leases.registry.set(gone.incidentId, Date.now());
    const b = await node(store, leases, 'node-b');
    const startedAt = Date.now();
    await until(() => b.service.has(unlisted.incidentId), STORE_SCAN_MS + 5000);
    expect(Date.now() - startedAt).toBeLessThanOrEqual(STORE_SCAN_MS + 4000);
    expect(leases.registry.has(unlisted.incidentId)).toBe(true);
    expect(await metric(b.metrics, 'sfu_escalation_takeover_attempts_total{found="store"}')).toBe(1);
    await vi.advanceTimersByTimeAsync(4000);
    expect(b.service.has(gone.incidentId)).toBe(false);
    expect(leases.registry.has(gone.incidentId)).toBe(false);
    expect(leases.leases.has(gone.incidentId)).toBe(false);
  });

  it('a registered incident the store does not have (its raise only in the dead node\'s spool) is not resumed blind: its lease is given back each round until the store has it, then one node resumes it', async () => {
    const store = new FakeIncidentStore();
    const leases = new FakeLeases();
    const a = await node(store, leases, 'node-a');
    store.mode = 'down';
    const r = await raise(a);
    await vi.advanceTimersByTimeAsync(1);
    expect(leases.registry.has(r.incidentId)).toBe(true);
    a.service.stop(); // dies with the raise in its spool only
    store.mode = 'up';
    const b = await node(store, leases, 'node-b');
    await vi.advanceTimersByTimeAsync(8000);
    expect(b.service.has(r.incidentId)).toBe(false);
    expect(leases.leases.has(r.incidentId)).toBe(false);
    expect(leases.calls.filter((c) => c.node === 'node-b' && c.op === 'hold' && c.ids.includes(r.incidentId)).length).toBeGreaterThan(1);
    // A restarts on its spool: the raise reaches the store, and exactly one node resumes the escalation.
    const again = await node(store, leases, 'node-a');
    await until(() => again.service.has(r.incidentId) || b.service.has(r.incidentId), 5000);
    await vi.advanceTimersByTimeAsync(5000);
    expect([again, b].filter((n) => n.service.has(r.incidentId))).toHaveLength(1);
    expect(leases.registry.has(r.incidentId)).toBe(true);
  });
});

describe('unacknowledged incidents for the metrics (sfu_panic_unacknowledged, sfu_panic_unacknowledged_past_last_tier)', () => {
  it('counts open incidents nobody acknowledged, and those older than the last tier (60 s); an ack takes one out', async () => {
    const s = setup();
    s.metrics.countUnacknowledgedWith(() => s.service.unacknowledged());
    await s.service.start(s.fanout);
    const a = await raise(s);
    await raise(s, other);
    expect(s.service.unacknowledged()).toEqual({ open: 2, pastLastTier: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.service.unacknowledged()).toEqual({ open: 2, pastLastTier: 0 });
    await vi.advanceTimersByTimeAsync(1);
    expect(s.service.unacknowledged()).toEqual({ open: 2, pastLastTier: 2 });
    await s.service.acknowledge(a.incidentId, doc);
    expect(await metric(s.metrics, 'sfu_panic_unacknowledged')).toBe(1);
    expect(await metric(s.metrics, 'sfu_panic_unacknowledged_past_last_tier')).toBe(1);
    // Acknowledged but not resolved: still open (sfu_panic_open), no longer unacknowledged.
    expect(await metric(s.metrics, 'sfu_panic_open')).toBe(2);
  });
});
