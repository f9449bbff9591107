import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * A flood of `panic:raise` from one student (real server, real SQLite store, real socket.io
 * clients): every raise is answered, none refused, and what the server writes is bounded: the
 * re-raises of an open incident after the first are counted and written as one `re-raised` event
 * (one `panic.re-raised` audit entry, with `count`, `first`, `last`) per second (docs/safety.md,
 * "One participant, a few open incidents"), and the counts add up to every raise.
 */

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

const FLOOD = 300;
/** The write window of re-raises (RE_RAISE_WRITE_WINDOW_MS). */
const WINDOW_MS = 1000;

describe('a flood of panic:raise from one participant', () => {
  it(`${FLOOD} raises emitted back to back: all answered; audit entries bounded; the counts recorded add up`, async () => {
    const room = 'flood';
    const max = srv.handle.config.safety.maxOpenIncidentsPerParticipant;
    const rtc = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
    await rtc.request('join', {});
    const kid = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-flood', rooms: [room] }), 'websocket');
    await desk.waitFor('panic:replayed');

    const started = performance.now();
    // Emitted in one go (socket.io queues them in this tick and writes them back to back).
    const replies = await Promise.all(Array.from({ length: FLOOD }, (_v, i) => kid.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: `flood-key-${i}` }, 30_000)));
    const burstMs = performance.now() - started;
    expect(replies.filter((r) => !r.ok)).toEqual([]);
    const opened = replies.filter((r) => !r.data.reRaised).map((r) => r.data.incidentId as string);
    expect(opened).toHaveLength(max);
    const target = replies[FLOOD - 1]!.data.incidentId as string;
    expect(replies.slice(max).every((r) => r.data.reRaised === true && r.data.duplicate === false && r.data.incidentId === target)).toBe(true);
    // Counted in memory at once: the incident responders are sent carries them all.
    expect(srv.handle.panic.held(target)?.reRaises).toBe(FLOOD - max);

    // Written within a window of the last raise.
    const reRaisedEntries = async () => (await srv.handle.store.auditTrail(room)).filter((e) => e.kind === 'panic.re-raised' && JSON.parse(e.detail).incidentId === target);
    const countOf = (detail: Record<string, unknown>) => (typeof detail.count === 'number' ? detail.count : 1);
    const counted = async () => (await reRaisedEntries()).reduce((n, e) => n + countOf(JSON.parse(e.detail)), 0);
    await until(async () => (await counted()) >= FLOOD - max, 'every re-raise counted in the audit', 10_000);

    const entries = await reRaisedEntries();
    const details = entries.map((e) => JSON.parse(e.detail) as Record<string, unknown>);
    const all = (await srv.handle.store.auditTrail(room)).filter((e) => e.kind.startsWith('panic.'));
    console.info(JSON.stringify({ measure: 'panic-flood-audit', raises: FLOOD, burstMs: Math.round(burstMs), panicAuditEntries: all.length, reRaisedEntries: entries.length, counts: details.map(countOf) }));
    // The bound: one entry for the first re-raise, then one per window while they keep coming.
    expect(entries.length).toBeLessThanOrEqual(2 + Math.ceil(burstMs / WINDOW_MS));
    expect(all.filter((e) => e.kind === 'panic.raised')).toHaveLength(max);
    expect(await counted()).toBe(FLOOD - max);
    // A batch says how many, the first and the last; a single one names its raise.
    for (const d of details) {
      if (typeof d.count === 'number') expect(Date.parse(d.first as string)).toBeLessThanOrEqual(Date.parse(d.last as string));
      else expect(d.clientIncidentId).toMatch(/^flood-key-\d+$/);
    }
    // The incident's own events say the same as the audit, and the store derives the same count.
    const events = (await srv.handle.store.incidents.events(target)).filter((e) => e.type === 're-raised');
    expect(events.map((e) => countOf(e.data))).toEqual(details.map(countOf));
    expect((await srv.handle.store.incidents.get(target))?.reRaises).toBe(FLOOD - max);

    // Responders: re-alerts stayed coalesced, the last one carries the final count.
    await desk.waitFor('panic:alert', (d) => d.incident.id === target && d.reAlert === true && d.incident.reRaises === FLOOD - max);

    // A change of state writes what was counted before it: raises, then an ack, in that order.
    const more = await Promise.all(Array.from({ length: 20 }, (_v, i) => kid.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: `flood-more-${i}` })));
    expect(more.every((r) => r.ok && r.data.incidentId === target)).toBe(true);
    expect((await desk.send('panic:ack', { incidentId: target })).ok).toBe(true);
    const after = await srv.handle.store.incidents.events(target);
    const ack = after.findIndex((e) => e.type === 'acknowledged');
    expect(after.slice(0, ack).filter((e) => e.type === 're-raised').reduce((n, e) => n + countOf(e.data), 0)).toBe(FLOOD - max + 20);
    expect((await srv.handle.store.incidents.get(target))?.reRaises).toBe(FLOOD - max + 20);

    kid.close(); desk.close(); rtc.close();
  }, 60_000);
});
