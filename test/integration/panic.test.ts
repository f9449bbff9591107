import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient, type Transport } from '../helpers/safety-client.ts';
import { observeFor } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ safety: { tiers: [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }, { afterSeconds: 0.4, notify: ['desk'] }, { afterSeconds: 0.8, notify: ['desk'] }] } });
});
afterAll(async () => { await srv.close(); });

const desk = (rooms: string[]) => mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms });
let n = 0;
const key = () => `client-key-${++n}-${Date.now()}`;

async function inRoom(room: string, identity: string, role: 'clinician' | 'student' | 'guardian') {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  return { c, info: await c.request('join', {}) };
}

for (const transport of ['websocket', 'polling'] as Transport[]) {
  describe(`panic channel over ${transport}`, () => {
    it('delivers a raise to clinicians (socket and signalling) and desks with the recorded location; ack stops escalation', async () => {
      const room = `p-${transport}`;
      const doc = await inRoom(room, 'doc', 'clinician');
      const kid = await inRoom(room, 'kid', 'student');
      const docSafety = await safetyClient(srv.url, srv.mint(room, 'doc', 'clinician'), transport);
      const deskClient = await safetyClient(srv.url, desk([room]), transport);
      const otherDesk = await safetyClient(srv.url, desk(['elsewhere']), transport);
      const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), transport);

      const clientIncidentId = key();
      const started = performance.now();
      const res = await kidSafety.send('panic:raise', { kind: 'self-harm', silent: true, clientIncidentId });
      expect(res.ok).toBe(true);
      const alert = await docSafety.waitFor('panic:alert');
      const latency = performance.now() - started;
      console.info(JSON.stringify({ measure: `panic-raise-to-clinician-ms-${transport}`, value: Math.round(latency * 10) / 10 }));
      expect(alert.incident).toMatchObject({ id: res.data.incidentId, kind: 'self-harm', silent: true, state: 'open' });
      expect(alert.participant).toEqual({ participantId: kid.info.participantId, identity: 'kid', role: 'student' });
      expect(alert.location).toMatchObject({ region: 'US-CA', description: 'Test School, room 4' });
      expect(alert.emergencyContact).toEqual({ name: 'Test Contact', phone: '+1 555 0100' });
      expect((await deskClient.waitFor('panic:alert')).incident.id).toBe(res.data.incidentId);
      expect((await doc.c.waitFor('panicAlert')).incident.id).toBe(res.data.incidentId);

      // Idempotent: the same key returns the same incident.
      const again = await kidSafety.send('panic:raise', { kind: 'self-harm', silent: true, clientIncidentId });
      expect(again.data.incidentId).toBe(res.data.incidentId);

      // Silent: the student and others never see it; the other desk neither.
      await new Promise((r) => setTimeout(r, 100));
      expect(kidSafety.events.filter((e) => e.event.startsWith('panic:'))).toEqual([]);
      // A responder gets the escalation plan on connect (issue #15: the desk says what comes next), then the replay.
      expect(otherDesk.events.map((e) => e.event)).toEqual(['panic:escalation-plan', 'panic:replayed']);
      expect(otherDesk.events[0]!.data).toEqual({ tiers: srv.handle.config.safety.tiers.map((t, tier) => ({ tier, afterSeconds: t.afterSeconds, notify: t.notify, unconfigured: [] })) });
      expect((await deskClient.waitFor('panic:replayed')).count).toBe(0);

      const ack = await docSafety.send('panic:ack', { incidentId: res.data.incidentId });
      expect(ack.data).toMatchObject({ acknowledgedBy: 'doc' });
      expect(await deskClient.waitFor('panic:acknowledged')).toMatchObject({ incidentId: res.data.incidentId, by: { identity: 'doc' } });
      // The raiser learns that a person has it.
      expect(await kidSafety.waitFor('panic:acknowledged')).toMatchObject({ incidentId: res.data.incidentId, by: { role: 'clinician' } });
      await new Promise((r) => setTimeout(r, 1000));
      expect(deskClient.events.filter((e) => e.event === 'panic:escalated')).toEqual([]);

      expect((await kidSafety.send('panic:resolve', { incidentId: res.data.incidentId, outcome: 'continued' })).error.code).toBe('PERMISSION_DENIED');
      const resolved = await deskClient.send('panic:resolve', { incidentId: res.data.incidentId, outcome: 'false-alarm' });
      expect(resolved.data).toMatchObject({ state: 'resolved', outcome: 'false-alarm' });
      await docSafety.waitFor('panic:resolved');
      for (const c of [docSafety, deskClient, otherDesk, kidSafety]) c.close();
      doc.c.close(); kid.c.close();
    });
  });
}

describe('panic escalation and rules', () => {
  it('climbs every tier while nobody acknowledges, each step persisted and broadcast', async () => {
    const room = 'p-esc';
    await inRoom(room, 'kid', 'student');
    await inRoom(room, 'mum', 'guardian');
    const deskClient = await safetyClient(srv.url, desk(['*']), 'websocket');
    const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    const mumSafety = await safetyClient(srv.url, srv.mint(room, 'mum', 'guardian'), 'polling');
    const res = await kidSafety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: key() });
    // Non-silent: the rest of the room is told (announceToRoom), without location or contact.
    const announce = await mumSafety.waitFor('panic:announce');
    expect(announce).toEqual({ incidentId: res.data.incidentId, kind: 'medical', raisedAt: expect.any(String) });
    expect(mumSafety.events.some((e) => e.event === 'panic:alert')).toBe(false);
    mumSafety.close();
    const first = await deskClient.waitFor('panic:escalated', (d) => d.tier === 1, 3000);
    const second = await deskClient.waitFor('panic:escalated', (d) => d.tier === 2, 3000);
    expect(first.incidentId).toBe(res.data.incidentId);
    expect(second.notified).toEqual(['desk']);
    const trail = (await srv.handle.store.auditTrail(room)).map((e) => e.kind);
    expect(trail).toEqual(expect.arrayContaining(['panic.raised', 'panic.escalated']));
    expect(trail.filter((k) => k === 'panic.escalated')).toHaveLength(2);
    const cancelled = await kidSafety.send('panic:cancel', { incidentId: res.data.incidentId });
    expect(cancelled.data).toMatchObject({ state: 'open' });
    expect(srv.handle.panic.openIncidents().map((i) => i.id)).toContain(res.data.incidentId);
    deskClient.close(); kidSafety.close();
  });

  it('announces a non-silent raise to the other participants only: not to the raiser (any of its connections), not to clinicians', async () => {
    const room = 'p-announce';
    const people = await Promise.all([inRoom(room, 'doc', 'clinician'), inRoom(room, 'kid', 'student'), inRoom(room, 'kid2', 'student'), inRoom(room, 'mum', 'guardian')]);
    const [docSafety, kidSafety, kidOtherTab, kid2Safety, mumSafety] = await Promise.all([
      safetyClient(srv.url, srv.mint(room, 'doc', 'clinician'), 'websocket'),
      safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket'),
      safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'polling'),
      safetyClient(srv.url, srv.mint(room, 'kid2', 'student'), 'polling'),
      safetyClient(srv.url, srv.mint(room, 'mum', 'guardian'), 'websocket'),
    ]);
    const res = await kidSafety.send('panic:raise', { kind: 'safety', silent: false, clientIncidentId: key() });
    expect(res.ok).toBe(true);
    const expected = { incidentId: res.data.incidentId, kind: 'safety', raisedAt: res.data.receivedAt };
    expect(await mumSafety.waitFor('panic:announce')).toEqual(expected);
    expect(await kid2Safety.waitFor('panic:announce')).toEqual(expected);
    await docSafety.waitFor('panic:alert', (a) => a.incident.id === res.data.incidentId);
    // The raiser's connections were left out of the same emit: a deliberate window in which no
    // announce may reach them (or the clinician, who has the alert) after the others had theirs.
    await observeFor(500);
    const announced = (c: typeof kidSafety) => c.events.filter((e) => e.event === 'panic:announce').length;
    expect({ raiser: announced(kidSafety), raiserOtherTab: announced(kidOtherTab), clinician: announced(docSafety) }).toEqual({ raiser: 0, raiserOtherTab: 0, clinician: 0 });
    // The raiser still hears what happens to its alarm.
    expect((await docSafety.send('panic:ack', { incidentId: res.data.incidentId })).ok).toBe(true);
    await kidSafety.waitFor('panic:acknowledged', (d) => d.incidentId === res.data.incidentId);
    await kidOtherTab.waitFor('panic:acknowledged', (d) => d.incidentId === res.data.incidentId);
    for (const c of [docSafety, kidSafety, kidOtherTab, kid2Safety, mumSafety]) c.close();
    for (const p of people) p.c.close();
  });

  it('refuses bad tokens in the handshake and bad events with codes', async () => {
    await expect(safetyClient(srv.url, 'garbage', 'polling')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    const notJoined = await safetyClient(srv.url, srv.mint('p-x', 'ghost', 'student'), 'websocket');
    expect((await notJoined.send('panic:raise', { kind: 'other', silent: false, clientIncidentId: key() })).error.code).toBe('NOT_JOINED');
    expect((await notJoined.send('panic:raise', { kind: 'fire', silent: false, clientIncidentId: key() })).error.code).toBe('INVALID_REQUEST');
    expect((await notJoined.send('panic:ack', { incidentId: 'nope' })).error.code).toBe('INCIDENT_NOT_FOUND');
    notJoined.close();
  });
});
