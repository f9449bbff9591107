import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_ADMIN_TOKEN, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { pollUntil } from '../helpers/browser.ts';

/**
 * A revocation bites on every connection of this node at once: the /safety sockets of the identity
 * for the room, its signalling connections joined or not, and (for desks) the room's incidents.
 */
let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

async function kick(url: string, room: string, body: { identity?: string; tokenId?: string }) {
  const res = await fetch(`${url}/admin/rooms/${room}/kick`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ durationSeconds: 600, ...body }),
  });
  expect(res.status).toBe(200);
  return await res.json() as { kicked: number };
}

async function joined(s: TestServer, room: string, identity: string, role: 'clinician' | 'student') {
  const c = await RtcClient.connect(s.wsUrl, { token: s.mint(room, identity, role) });
  await c.request('join', {});
  return c;
}

/** Resolves with the socket.io disconnect reason (register before the cause). */
const disconnected = (c: SafetyClient) => new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
let n = 0;
const key = () => `live-key-${++n}-${Date.now()}`;

describe('revocation on live connections', () => {
  it('disconnects a kicked clinician\'s /safety socket at once; it gets nothing of a later raise and cannot come back', async () => {
    const room = 'rl-clin';
    const doc = await joined(srv, room, 'doc', 'clinician');
    const kid = await joined(srv, room, 'kid', 'student');
    const docSafety = await safetyClient(srv.url, srv.mint(room, 'doc', 'clinician'), 'websocket');
    const docPolling = await safetyClient(srv.url, srv.mint(room, 'doc', 'clinician', { jti: 'second-tab' }), 'polling');
    const docElsewhere = await safetyClient(srv.url, srv.mint('rl-other', 'doc', 'clinician'), 'websocket');
    const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-live', rooms: [room] }), 'websocket');
    const gone = [disconnected(docSafety), disconnected(docPolling)];

    expect(await kick(srv.url, room, { identity: 'doc' })).toEqual({ kicked: 1, revokedUntil: expect.any(String) });
    expect(await Promise.all(gone)).toEqual(['io server disconnect', 'io server disconnect']);
    expect(await doc.closeInfo).toEqual({ code: 4403, reason: 'KICKED' });

    const raised = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: key() });
    expect(raised.ok).toBe(true);
    // The desk got it, so the fan-out ran; the kicked clinician's sockets got nothing of it.
    expect((await desk.waitFor('panic:alert')).incident.id).toBe(raised.data.incidentId);
    expect([...docSafety.events, ...docPolling.events].filter((e) => e.event === 'panic:alert')).toEqual([]);
    // The same identity in another room keeps its socket.
    expect(docElsewhere.socket.connected).toBe(true);
    await expect(safetyClient(srv.url, srv.mint(room, 'doc', 'clinician', { jti: 'fresh' }), 'polling')).rejects.toMatchObject({ code: 'IDENTITY_REVOKED' });

    expect((await desk.send('panic:resolve', { incidentId: raised.data.incidentId, outcome: 'false-alarm', acknowledge: true })).ok).toBe(true);
    for (const c of [docElsewhere, kidSafety, desk]) c.close();
    kid.close();
  });

  it('closes the identity\'s signalling connections that have not joined with 4403 IDENTITY_REVOKED', async () => {
    const room = 'rl-rtc';
    const waiting = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'late', 'student') });
    const sameJti = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'pat', 'student', { jti: 'leaked-7' }) });
    const otherJti = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'pat', 'student', { jti: 'kept-8' }) });
    const bystander = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'other', 'student') });

    expect(await kick(srv.url, room, { identity: 'late' })).toMatchObject({ kicked: 0 });
    expect(await waiting.closeInfo).toEqual({ code: 4403, reason: 'IDENTITY_REVOKED' });
    expect(await kick(srv.url, room, { tokenId: 'leaked-7' })).toMatchObject({ kicked: 0 });
    expect(await sameJti.closeInfo).toEqual({ code: 4403, reason: 'IDENTITY_REVOKED' });

    // Others, and the same identity with another token id, carry on.
    expect((await otherJti.request('join', {})).identity).toBe('pat');
    expect((await bystander.request('join', {})).identity).toBe('other');
    otherJti.close(); bystander.close();
  });

  it('takes a room away from a desk revoked there: its other rooms stay, a desk left with none is disconnected', async () => {
    const [a, b] = ['rl-desk-a', 'rl-desk-b'];
    const kidA = await joined(srv, a, 'kid', 'student');
    const kidB = await joined(srv, b, 'kid', 'student');
    const kidASafety = await safetyClient(srv.url, srv.mint(a, 'kid', 'student'), 'websocket');
    const kidBSafety = await safetyClient(srv.url, srv.mint(b, 'kid', 'student'), 'websocket');
    const before = await kidASafety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: key() });
    const wide = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-r', rooms: [a, b] }), 'websocket');
    const narrow = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-r', rooms: [a] }), 'polling');
    await wide.waitFor('panic:replayed', (d) => d.count === 1);
    const narrowGone = disconnected(narrow);

    await kick(srv.url, a, { identity: 'desk-r' });
    expect(await narrowGone).toBe('io server disconnect');
    await expect(safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-r', rooms: [a] }), 'websocket')).rejects.toMatchObject({ code: 'IDENTITY_REVOKED' });

    // The wide desk stays for room b, and gets nothing more of room a.
    const inA = await kidASafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: key() });
    const inB = await kidBSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: key() });
    expect((await wide.waitFor('panic:alert', (d) => d.incident.id === inB.data.incidentId)).incident.room).toBe(b);
    expect(wide.events.filter((e) => e.event === 'panic:alert' && e.data.incident.id === inA.data.incidentId)).toEqual([]);
    expect((await wide.send('panic:ack', { incidentId: before.data.incidentId })).error.code).toBe('IDENTITY_REVOKED');
    expect(srv.handle.panic.openIncidents().find((i) => i.id === before.data.incidentId)?.acknowledgedBy).toBeUndefined();
    expect((await wide.send('panic:ack', { incidentId: inB.data.incidentId })).ok).toBe(true);

    // Its replay after a reconnection leaves room a out.
    wide.close();
    const again = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-r', rooms: ['*'] }), 'websocket');
    expect((await again.waitFor('panic:replayed')).count).toBe(again.events.filter((e) => e.event === 'panic:alert').length);
    expect(again.events.filter((e) => e.event === 'panic:alert').map((e) => e.data.incident.room)).not.toContain(a);
    expect(again.events.filter((e) => e.event === 'panic:alert').map((e) => e.data.incident.id)).toContain(inB.data.incidentId);

    const resolver = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-other', rooms: [a, b] }), 'websocket');
    for (const id of [before.data.incidentId, inA.data.incidentId, inB.data.incidentId]) {
      expect((await resolver.send('panic:resolve', { incidentId: id, outcome: 'continued', acknowledge: true })).ok).toBe(true);
    }
    for (const c of [again, resolver, kidASafety, kidBSafety]) c.close();
    kidA.close(); kidB.close();
  });

  it('enforces every target even when the audit fails, and audits once the store answers', async () => {
    const room = 'rl-audit';
    // Two participants sharing one leaked token id: one revocation denies both.
    const one = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'sib-1', 'student', { jti: 'shared-9' }) });
    const two = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'sib-2', 'student', { jti: 'shared-9' }) });
    await one.request('join', {});
    await two.request('join', {});
    const store = srv.handle.store;
    const realAudit = store.audit.bind(store);
    let failures = 3;
    store.audit = async (e) => {
      if (failures > 0) { failures--; throw new Error('store down'); }
      return realAudit(e);
    };
    try {
      expect(await kick(srv.url, room, { tokenId: 'shared-9' })).toMatchObject({ kicked: 2 });
      expect((await one.closeInfo).code).toBe(4403);
      expect((await two.closeInfo).code).toBe(4403);
      expect(srv.handle.rooms.get(room)?.participants ?? []).toEqual([]);
      // Retried with backoff (200 ms, 400 ms, ...): both removals end up audited, once each.
      const kicked = await pollUntil('both removals audited',
        async () => (await store.auditTrail(room)).filter((e) => e.kind === 'participant.kicked').map((e) => e.actor),
        (actors) => actors.length >= 2, { timeoutMs: 10_000, intervalMs: 50 });
      expect(kicked).toEqual(['admin', 'admin']);
      expect(failures).toBe(0);
    } finally {
      store.audit = realAudit;
    }
  });
});

describe('revocation learned from a shared store', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startServer({ store: { revocationSyncSeconds: 0.2 } });
    b = await startServer({ dataDir: a.dataDir, store: { revocationSyncSeconds: 0.2 } });
  });
  afterAll(async () => { await b?.close(); await a?.close(); });

  it('a kick on node A ends the /safety socket and the unjoined connection on node B', async () => {
    const room = 'rl-sync';
    const waiting = await RtcClient.connect(b.wsUrl, { token: b.mint(room, 'doc', 'clinician') });
    const docSafety = await safetyClient(b.url, b.mint(room, 'doc', 'clinician'), 'polling');
    const gone = disconnected(docSafety);
    await kick(a.url, room, { identity: 'doc' });
    expect(await gone).toBe('io server disconnect');
    expect(await waiting.closeInfo).toEqual({ code: 4403, reason: 'IDENTITY_REVOKED' });
  });
});
