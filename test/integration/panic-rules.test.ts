import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

const desk = (rooms: string[]) => mintDeskToken(TEST_SECRET, { identity: 'desk-rules', rooms });
let n = 0;
const key = () => `rules-key-${++n}-${Date.now()}`;

async function joined(s: TestServer, room: string, identity: string, role: 'clinician' | 'student') {
  const c = await RtcClient.connect(s.wsUrl, { token: s.mint(room, identity, role) });
  await c.request('join', {});
  return c;
}

describe('panic:cancel', () => {
  it('is refused to the same identity from another room; the incident stays open and uncancelled', async () => {
    const [a, b] = ['pr-cancel-a', 'pr-cancel-b'];
    const kidA = await joined(srv, a, 'kid', 'student');
    const kidB = await joined(srv, b, 'kid', 'student');
    const inA = await safetyClient(srv.url, srv.mint(a, 'kid', 'student'), 'websocket');
    const inB = await safetyClient(srv.url, srv.mint(b, 'kid', 'student'), 'polling');
    const deskA = await safetyClient(srv.url, desk([a]), 'websocket');
    const raised = await inA.send('panic:raise', { kind: 'safety', silent: false, clientIncidentId: key() });
    await deskA.waitFor('panic:alert', (d) => d.incident.id === raised.data.incidentId);

    const refused = await inB.send('panic:cancel', { incidentId: raised.data.incidentId });
    expect(refused).toEqual({ ok: false, error: { code: 'PERMISSION_DENIED', message: expect.stringContaining('room') } });
    const open = srv.handle.panic.openIncidents((r) => r === a).find((i) => i.id === raised.data.incidentId);
    expect(open).toMatchObject({ state: 'open' });
    expect(open?.cancelledAt).toBeUndefined();
    expect((await srv.handle.store.incidents.events(raised.data.incidentId)).map((e) => e.type)).not.toContain('cancelled');

    // The raiser, in the raiser's room, may.
    expect((await inA.send('panic:cancel', { incidentId: raised.data.incidentId })).data).toMatchObject({ state: 'open', cancelledAt: expect.any(String) });
    // The desk heard of the one cancellation only.
    expect((await deskA.waitFor('panic:cancelled')).incidentId).toBe(raised.data.incidentId);
    expect(deskA.events.filter((e) => e.event === 'panic:cancelled')).toHaveLength(1);
    expect((await deskA.send('panic:resolve', { incidentId: raised.data.incidentId, outcome: 'false-alarm', acknowledge: true })).ok).toBe(true);
    for (const c of [inA, inB, deskA]) c.close();
    kidA.close(); kidB.close();
  });
});

describe('open incidents per participant', () => {
  it('keeps a burst of 50 raises to 3 open incidents: every raise acked, the rest recorded on them, responders re-alerted', async () => {
    const room = 'pr-burst';
    const max = srv.handle.config.safety.maxOpenIncidentsPerParticipant;
    expect(max).toBe(3);
    const doc = await joined(srv, room, 'doc', 'clinician');
    const kid = await joined(srv, room, 'kid', 'student');
    const docSafety = await safetyClient(srv.url, srv.mint(room, 'doc', 'clinician'), 'websocket');
    const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    const deskClient = await safetyClient(srv.url, desk([room]), 'polling');

    const keys = Array.from({ length: 50 }, key);
    const replies = await Promise.all(keys.map((k) => kidSafety.send('panic:raise', { kind: 'other', silent: true, clientIncidentId: k })));
    expect(replies.every((r) => r.ok)).toBe(true);
    const opened = replies.filter((r) => !r.data.reRaised).map((r) => r.data.incidentId);
    const onOpen = replies.filter((r) => r.data.reRaised);
    expect(new Set(opened).size).toBe(max);
    expect(opened).toHaveLength(max);
    expect(onOpen).toHaveLength(50 - max);
    expect(onOpen.every((r) => opened.includes(r.data.incidentId) && r.data.duplicate === false)).toBe(true);

    const open = srv.handle.panic.openIncidents((r) => r === room);
    expect(open.map((i) => i.id).sort()).toEqual([...opened].sort());
    expect(open.reduce((sum, i) => sum + (i.reRaises ?? 0), 0)).toBe(50 - max);
    // Persisted (and audited) as events on the open incidents: the first re-raise of an incident
    // alone, those within the next second counted and written as one event (`count`) when it ends
    // (docs/safety.md); a write that outlasts the store deadline is spooled and lands shortly after.
    const readEvents = async () => (await Promise.all(opened.map((id) => srv.handle.store.incidents.events(id)))).flat().filter((e) => e.type === 're-raised');
    const counted = (es: { data: Record<string, unknown> }[]) => es.reduce((sum, e) => sum + (typeof e.data.count === 'number' ? e.data.count : 1), 0);
    await until(async () => counted(await readEvents()) >= 50 - max, 'the re-raises in the store', 10_000);
    const events = await readEvents();
    expect(counted(events)).toBe(50 - max);
    // One event per incident for its first re-raise, then at most one per second per incident (the burst is over in well under 3 s).
    expect(events.length).toBeLessThanOrEqual(opened.length * 4);
    const alone = events.filter((e) => typeof e.data.clientIncidentId === 'string').map((e) => e.data.clientIncidentId);
    expect(alone.every((k) => keys.filter((_k, i) => replies[i]!.data.reRaised).includes(k as string))).toBe(true);
    expect((await srv.handle.store.auditTrail(room)).filter((e) => e.kind === 'panic.re-raised')).toHaveLength(events.length);

    // Responders were alerted again, coalesced; the last alert of each incident has its final count.
    for (const i of open.filter((o) => (o.reRaises ?? 0) > 0)) {
      for (const c of [docSafety, deskClient]) {
        expect(await c.waitFor('panic:alert', (d) => d.incident.id === i.id && d.reAlert === true && d.incident.reRaises === i.reRaises)).toMatchObject({
          incident: { lastReRaise: { kind: 'other', silent: true, at: expect.any(String) } },
          location: { description: 'Test School, room 4' },
        });
      }
    }
    const deskAlerts = deskClient.events.filter((e) => e.event === 'panic:alert').length;
    console.info(JSON.stringify({ measure: 'panic-burst-50-desk-alerts', value: deskAlerts }));
    expect(deskAlerts).toBeLessThan(15);

    // Idempotent: retrying a raise that opened an incident, or one recorded on one, records nothing more.
    const retryOpened = await kidSafety.send('panic:raise', { kind: 'other', silent: true, clientIncidentId: keys[replies.findIndex((r) => !r.data.reRaised)]! });
    expect(retryOpened.data).toMatchObject({ incidentId: opened[0], duplicate: true });
    const reRaisedAt = replies.findIndex((r) => r.data.reRaised);
    const retryRecorded = await kidSafety.send('panic:raise', { kind: 'other', silent: true, clientIncidentId: keys[reRaisedAt]! });
    expect(retryRecorded.data).toEqual({ ...replies[reRaisedAt]!.data, duplicate: true });
    expect(srv.handle.panic.openIncidents((r) => r === room).reduce((sum, i) => sum + (i.reRaises ?? 0), 0)).toBe(50 - max);

    // A desk that reconnects gets the 3 incidents, not 50.
    deskClient.close();
    const back = await safetyClient(srv.url, desk([room]), 'websocket');
    expect((await back.waitFor('panic:replayed')).count).toBe(max);
    expect(back.events.filter((e) => e.event === 'panic:alert').map((e) => e.data.incident.id).sort()).toEqual([...opened].sort());

    // Resolving one frees a place: the next raise opens a new incident.
    expect((await back.send('panic:resolve', { incidentId: opened[0], outcome: 'false-alarm', acknowledge: true })).ok).toBe(true);
    const next = await kidSafety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: key() });
    expect(next.data.reRaised).toBeUndefined();
    expect(opened).not.toContain(next.data.incidentId);
    for (const id of [...opened.slice(1), next.data.incidentId]) {
      expect((await back.send('panic:resolve', { incidentId: id, outcome: 'continued', acknowledge: true })).ok).toBe(true);
    }
    for (const c of [docSafety, kidSafety, back]) c.close();
    doc.close(); kid.close();
  });

  it('records a raise over the cap on the newest open incident that is not cancelled; raising again there lifts a cancellation', async () => {
    const room = 'pr-target';
    const kid = await joined(srv, room, 'kid', 'student');
    const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await kidSafety.send('panic:raise', { kind: 'other', silent: true, clientIncidentId: key() })).data.incidentId);
    await kidSafety.send('panic:cancel', { incidentId: ids[2] });
    const over = await kidSafety.send('panic:raise', { kind: 'self-harm', silent: true, clientIncidentId: key() });
    expect(over.data).toMatchObject({ incidentId: ids[1], reRaised: true, duplicate: false });
    for (const id of ids.slice(0, 2)) await kidSafety.send('panic:cancel', { incidentId: id });
    const again = await kidSafety.send('panic:raise', { kind: 'medical', silent: true, clientIncidentId: key() });
    expect(again.data).toMatchObject({ incidentId: ids[2], reRaised: true });
    const target = srv.handle.panic.openIncidents().find((i) => i.id === ids[2]);
    expect(target).toMatchObject({ reRaises: 1, lastReRaise: { kind: 'medical', silent: true } });
    expect(target?.cancelledAt).toBeUndefined();
    const deskClient = await safetyClient(srv.url, desk([room]), 'websocket');
    for (const id of ids) expect((await deskClient.send('panic:resolve', { incidentId: id, outcome: 'continued', acknowledge: true })).ok).toBe(true);
    deskClient.close(); kidSafety.close(); kid.close();
  });

  it('keeps a raise recorded on an open incident idempotent across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-rules-'));
    const overrides = { dataDir, safety: { maxOpenIncidentsPerParticipant: 1 } };
    try {
      let s = await startServer(overrides);
      const room = 'pr-restart';
      let kid = await joined(s, room, 'kid', 'student');
      let kidSafety = await safetyClient(s.url, s.mint(room, 'kid', 'student'), 'websocket');
      const first = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: key() });
      const overKey = key();
      const over = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: overKey });
      expect(over.data).toMatchObject({ incidentId: first.data.incidentId, reRaised: true });
      kidSafety.close(); kid.close();
      await s.close();

      s = await startServer(overrides);
      kid = await joined(s, room, 'kid', 'student');
      kidSafety = await safetyClient(s.url, s.mint(room, 'kid', 'student'), 'websocket');
      const retry = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: overKey });
      expect(retry.data).toEqual({ ...over.data, duplicate: true });
      expect(s.handle.panic.openIncidents()).toMatchObject([{ id: first.data.incidentId, reRaises: 1 }]);
      kidSafety.close(); kid.close();
      await s.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reads the cap from SFU_PANIC_MAX_OPEN_PER_PARTICIPANT', () => {
    expect(loadConfig({ env: {} }).safety.maxOpenIncidentsPerParticipant).toBe(3);
    expect(loadConfig({ env: { SFU_PANIC_MAX_OPEN_PER_PARTICIPANT: '5' } }).safety.maxOpenIncidentsPerParticipant).toBe(5);
    expect(() => loadConfig({ env: { SFU_PANIC_MAX_OPEN_PER_PARTICIPANT: '0' } })).toThrow(/maxOpenIncidentsPerParticipant/);
  });
});
