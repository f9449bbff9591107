import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { reRaiseCount, type IncidentEvent } from '../../src/domain/incident.ts';
import { PanicService, RE_RAISE_WRITE_WINDOW_MS, type PanicFanout, type Raiser } from '../../src/safety/panic/service.ts';
import { PanicSpool } from '../../src/safety/panic/spool.ts';
import { WebhookSender } from '../../src/safety/panic/webhooks.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { FakeIncidentStore } from '../helpers/fake-incident-store.ts';

/**
 * Re-raises of an open incident written in batches (docs/safety.md, "One participant, a few open
 * incidents"): the first at once, those within the next window counted in memory at once and
 * written as one event when it ends, or before the incident's next change; the counts add up.
 */

const kid: Raiser = { room: 'room-1', participantId: 'pid-kid', identity: 'kid', role: 'student' };
const doc = { identity: 'doc', role: 'clinician' as const };
const fanout: PanicFanout = { alertClinicians: () => 1, alertDesks: () => 1, announceToRoom: () => undefined, update: () => undefined };

let dir: string;
let service: PanicService | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-12-02T10:00:00.000Z') });
  dir = mkdtempSync(join(tmpdir(), 'sfu-re-raise-batch-'));
});
afterEach(() => {
  service?.stop();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

async function setup() {
  const store = new FakeIncidentStore();
  const log = createLogger('silent');
  const metrics = new Metrics({ defaultMetrics: false });
  service = new PanicService({
    store, spool: new PanicSpool(join(dir, 'panic-spool.jsonl')), tiers: [{ afterSeconds: 0, notify: ['desk'] }, { afterSeconds: 60, notify: ['desk'] }],
    webhooks: [], announceToRoom: false, maxOpenPerParticipant: 1, sender: new WebhookSender({ store, log, metrics, timeoutSeconds: 1, maxBackoffSeconds: 1 }),
    locate: async () => undefined, storeDeadlineMs: 250, retryMs: 1000, startDeadlineMs: 2000, log, metrics,
  });
  await service.start(fanout);
  let n = 0;
  const raise = () => service!.raise(kid, { kind: 'medical', silent: false, clientIncidentId: `batch-key-${++n}` });
  const reRaised = async (id: string) => (await store.events(id)).filter((e) => e.type === 're-raised');
  return { store, service, raise, reRaised };
}

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await vi.advanceTimersByTimeAsync(1);
  expect(pred()).toBe(true);
}

const total = (es: IncidentEvent[]) => es.reduce((s, e) => s + reRaiseCount(e), 0);

describe('re-raises written in batches', () => {
  it('the first at once; those within the window counted at once, written as one event (count, first, last) when it ends', async () => {
    const s = await setup();
    const { incidentId } = await s.raise();
    const replies = [];
    for (let i = 0; i < 10; i++) {
      replies.push(await s.raise());
      vi.advanceTimersByTime(10);
    }
    expect(replies.every((r) => r.incidentId === incidentId && r.reRaised === true && !r.duplicate)).toBe(true);
    expect(s.service.held(incidentId)?.reRaises).toBe(10);
    expect((await s.reRaised(incidentId)).map((e) => e.data)).toEqual([{ clientIncidentId: 'batch-key-2', kind: 'medical', silent: false }]);

    await vi.advanceTimersByTimeAsync(RE_RAISE_WRITE_WINDOW_MS);
    const events = await s.reRaised(incidentId);
    expect(events).toHaveLength(2);
    expect(events[1]!.data).toEqual({ count: 9, first: replies[1]!.receivedAt, last: replies[9]!.receivedAt, kind: 'medical', silent: false });
    expect(events[1]!.at).toBe(replies[9]!.receivedAt);
    expect(total(events)).toBe(10);
    expect((await s.store.get(incidentId))?.reRaises).toBe(10);
    // A retry of a counted raise is still a duplicate.
    expect(await s.service.raise(kid, { kind: 'medical', silent: false, clientIncidentId: 'batch-key-5' })).toMatchObject({ incidentId, duplicate: true, reRaised: true });

    // A window that ended with none counted closes: the next one is written at once again.
    await vi.advanceTimersByTimeAsync(RE_RAISE_WRITE_WINDOW_MS);
    await s.raise();
    expect(await s.reRaised(incidentId)).toHaveLength(3);
  });

  it('a change of the incident writes what was counted first; counted while it is written stay counted; a resolve writes the rest', async () => {
    const s = await setup();
    const { incidentId } = await s.raise();
    for (let i = 0; i < 5; i++) await s.raise();
    // The ack is written after the four counted re-raises, in one event before it. The store holds
    // the writes until a re-raise was counted meanwhile: the incident it answers lacks that one.
    s.store.mode = 'hung';
    const ack = s.service.acknowledge(incidentId, doc);
    await until(() => s.store.hungCalls > 0);
    await s.raise();
    expect(s.service.held(incidentId)?.reRaises).toBe(6);
    s.store.mode = 'up';
    s.store.release();
    await ack;
    expect(s.service.held(incidentId)).toMatchObject({ reRaises: 6, acknowledgedBy: 'doc' });
    const types = (await s.store.events(incidentId)).map((e) => `${e.type}:${e.type === 're-raised' ? reRaiseCount(e) : ''}`);
    expect(types).toEqual(['re-raised:1', 're-raised:4', 'acknowledged:']);

    for (let i = 0; i < 3; i++) await s.raise();
    expect(s.service.held(incidentId)?.reRaises).toBe(9);
    await s.service.resolve(incidentId, doc, 'continued');
    await vi.advanceTimersByTimeAsync(0);
    const after = await s.store.events(incidentId);
    expect(after.map((e) => e.type)).toEqual(['re-raised', 're-raised', 'acknowledged', 're-raised', 'resolved']);
    expect(total(after.filter((e) => e.type === 're-raised'))).toBe(9);
    // Nothing more is written for it after the window would have ended.
    await vi.advanceTimersByTimeAsync(RE_RAISE_WRITE_WINDOW_MS * 2);
    expect(await s.store.events(incidentId)).toHaveLength(5);
  });

  it('a raise while the resolve is written is not counted on the incident being resolved: it opens a new one', async () => {
    const s = await setup();
    const { incidentId } = await s.raise();
    for (let i = 0; i < 3; i++) await s.raise();
    await s.service.acknowledge(incidentId, doc);
    s.store.mode = 'hung';
    const resolving = s.service.resolve(incidentId, doc, 'continued');
    await until(() => s.store.hungCalls > 0);
    const during = s.raise();
    s.store.mode = 'up';
    s.store.release();
    await resolving;
    const r = await during;
    expect(r.incidentId).not.toBe(incidentId);
    expect(r.reRaised).toBeUndefined();
    expect(s.service.held(r.incidentId)).toMatchObject({ state: 'open' });
    const events = await s.store.events(incidentId);
    expect(events.map((e) => e.type)).toEqual(['re-raised', 're-raised', 'acknowledged', 'resolved', 're-raised']);
    expect(total(events.filter((e) => e.type === 're-raised'))).toBe(4);
  });

  it('counted re-raises are handed to the journal at stop (shutdown)', async () => {
    const s = await setup();
    const { incidentId } = await s.raise();
    for (let i = 0; i < 4; i++) await s.raise();
    s.service.stop();
    service = undefined;
    await vi.advanceTimersByTimeAsync(0);
    expect((await s.reRaised(incidentId)).map(reRaiseCount)).toEqual([1, 3]);
  });

  it('with the store down: the batch goes to the spool and reaches the store with its count', async () => {
    const s = await setup();
    const { incidentId } = await s.raise();
    await s.raise();
    s.store.mode = 'down';
    for (let i = 0; i < 7; i++) await s.raise();
    await vi.advanceTimersByTimeAsync(RE_RAISE_WRITE_WINDOW_MS);
    s.store.mode = 'up';
    await vi.advanceTimersByTimeAsync(2000);
    const events = await s.reRaised(incidentId);
    expect(events.map(reRaiseCount)).toEqual([1, 7]);
    expect((await s.store.get(incidentId))?.reRaises).toBe(8);
    expect(s.service.held(incidentId)?.reRaises).toBe(8);
  });
});
