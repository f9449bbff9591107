import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION, opusParameters, vp8Parameters } from '../helpers/ws-client.ts';

let srv: TestServer;
// These tests retry join on one socket many times on purpose (each refusal names a field): the
// limits on refused joins and on record-writing requests (docs/configuration.md#limits) are raised.
const RETRIES = { signalling: { maxRefusedJoins: 100, auditRateLimit: { requestsPerSecond: 1000, burst: 1000 } } };
beforeAll(async () => { srv = await startServer({ consent: { selfConsentRooms: ['teen-room'] }, ...RETRIES }); });
afterAll(async () => { await srv.close(); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const getJson = async (path: string): Promise<any> => (await fetch(`${srv.url}${path}`, { headers: admin })).json();

async function bare(room: string, identity: string, role: 'clinician' | 'student' | 'guardian') {
  return RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role), autoConsent: false });
}

async function joined(room: string, identity: string, role: 'clinician' | 'student' | 'guardian') {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  return { c, info: await c.request('join', {}) };
}

describe('admission requires recorded consent and location', () => {
  it('refuses a join without consent or location, with the socket kept open for a corrected join', async () => {
    const doc = await joined('c1', 'doc', 'clinician');
    const c = await bare('c1', 'kid', 'student');
    expect((await c.raw('join', {})).error.code).toBe('CONSENT_REQUIRED');
    expect((await c.raw('join', { consent: TEST_CONSENT })).error.code).toBe('LOCATION_REQUIRED');
    // Not admitted: no media methods, and nobody else sees it.
    expect((await c.raw('createTransport', { direction: 'send' })).error.code).toBe('NOT_JOINED');
    expect(doc.c.notifications.filter((n) => n.notification === 'participantJoined')).toEqual([]);
    const ok = await c.request('join', { consent: TEST_CONSENT, location: TEST_LOCATION });
    expect(ok.participantId).toBeTruthy();
    const seen = await doc.c.waitFor('participantJoined');
    expect(seen.safety).toEqual({
      consentScopes: ['telehealth'],
      location: { region: 'US-CA', description: 'Test School, room 4' },
      emergencyContact: { name: 'Test Contact', phone: '+1 555 0100' },
    });
    c.close(); doc.c.close();
  });

  it('names the failing field of a malformed consent or location', async () => {
    const c = await bare('c2', 'kid', 'student');
    const cases: [unknown, unknown, string, RegExp][] = [
      [{ ...TEST_CONSENT, grantedBy: { relation: 'uncle', name: 'x' } }, TEST_LOCATION, 'INVALID_CONSENT', /consent\.grantedBy\.relation/],
      [{ ...TEST_CONSENT, scopes: ['recording'] }, TEST_LOCATION, 'INVALID_CONSENT', /consent\.scopes/],
      [{ ...TEST_CONSENT, grantedBy: { relation: 'self', name: 'Kid' } }, TEST_LOCATION, 'INVALID_CONSENT', /guardian/],
      [{ ...TEST_CONSENT, method: 'verbal-attested' }, TEST_LOCATION, 'INVALID_CONSENT', /consent\.attestedBy/],
      [{ ...TEST_CONSENT, policyVersion: '2019-01' }, TEST_LOCATION, 'CONSENT_VERSION_OUTDATED', /current version is 2026-09/],
      [TEST_CONSENT, { ...TEST_LOCATION, region: 'California' }, 'INVALID_LOCATION', /location\.region/],
      [TEST_CONSENT, { ...TEST_LOCATION, coordinates: { lat: 123, lon: 0 } }, 'INVALID_LOCATION', /location\.coordinates\.lat/],
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: 'yesterday' }, 'INVALID_LOCATION', /location\.capturedAt/],
      // Only RFC 3339 date-times: no locale formats, no date alone, no missing offset, no impossible dates.
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: 'March 7, 2020 10:00' }, 'INVALID_LOCATION', /location\.capturedAt: must be an RFC 3339/],
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: '2026-11-22' }, 'INVALID_LOCATION', /location\.capturedAt/],
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: '2026-11-22T09:00:00' }, 'INVALID_LOCATION', /location\.capturedAt/],
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: '2026-02-30T09:00:00Z' }, 'INVALID_LOCATION', /location\.capturedAt/],
      [TEST_CONSENT, { ...TEST_LOCATION, capturedAt: '2999-01-01T00:00:00Z' }, 'INVALID_LOCATION', /location\.capturedAt: is in the future/],
      [TEST_CONSENT, { ...TEST_LOCATION, emergencyContact: undefined }, 'INVALID_LOCATION', /location\.emergencyContact/],
    ];
    for (const [consent, location, code, message] of cases) {
      const res = await c.raw('join', { consent, location });
      expect(res.error.code).toBe(code);
      expect(res.error.message).toMatch(message);
    }
    const verbal = (attestedBy: string) => ({ ...TEST_CONSENT, method: 'verbal-attested', attestedBy });
    // A verbal consent is attested by a clinician admitted to the room now: not the joiner itself,
    // not a clinician who has not joined, not a participant of another role.
    const refusedVerbal = async (attestedBy: string, message: RegExp) => {
      const res = await c.raw('join', { consent: verbal(attestedBy), location: TEST_LOCATION });
      expect(res.error.code).toBe('INVALID_CONSENT');
      expect(res.error.message).toMatch(message);
    };
    await refusedVerbal('kid', /^consent\.attestedBy: names the person joining/);
    await refusedVerbal('doc', /^consent\.attestedBy: is not a clinician admitted to this room/);
    const mum = await joined('c2', 'mum', 'guardian');
    await refusedVerbal('mum', /^consent\.attestedBy: is not a clinician admitted to this room/);
    const doc = await joined('c2', 'doc', 'clinician');
    await refusedVerbal('kid', /^consent\.attestedBy: names the person joining/);
    // Attested by the clinician now in the room, with an RFC 3339 time at an offset: accepted, stored in UTC.
    const ok = await c.request('join', { consent: verbal('doc'), location: { ...TEST_LOCATION, capturedAt: '2026-11-22T01:00:00.5-08:00' } });
    expect(ok.participantId).toBeTruthy();
    const kid = (await getJson('/admin/rooms/c2/records')).participants.find((p: any) => p.identity === 'kid');
    expect(kid.consents[0]).toMatchObject({ method: 'verbal-attested', attestedBy: 'doc' });
    expect(kid.locations[0].capturedAt).toBe('2026-11-22T09:00:00.500Z');
    c.close(); mum.c.close(); doc.c.close();
  });

  it('lets a room policy allow self-consent, and lets a guardian join without an emergency contact', async () => {
    const teen = await bare('teen-room', 'teen', 'student');
    expect((await teen.request('join', { consent: { ...TEST_CONSENT, grantedBy: { relation: 'self', name: 'Teen' } }, location: TEST_LOCATION })).participantId).toBeTruthy();
    const guardian = await bare('c3', 'mum', 'guardian');
    expect((await guardian.request('join', { consent: { ...TEST_CONSENT, grantedBy: { relation: 'self', name: 'Mum' } }, location: { ...TEST_LOCATION, emergencyContact: undefined } })).participantId).toBeTruthy();
    teen.close(); guardian.close();
  });

  it('commits the records before answering; they survive a restart and only clinicians see locations', async () => {
    const doc = await joined('c4', 'doc', 'clinician');
    const kid = await joined('c4', 'kid', 'student');
    const mum = await joined('c4', 'mum', 'guardian');
    const records = await getJson('/admin/rooms/c4/records');
    expect(records.participants.map((p: any) => p.identity)).toEqual(['doc', 'kid', 'mum']);
    expect(records.participants[1].consents[0]).toMatchObject({ kind: 'grant', policyVersion: '2026-09', grantedBy: { relation: 'guardian', name: 'Test Guardian' } });
    expect(records.participants[1].locations[0]).toMatchObject({ region: 'US-CA', emergencyContact: { phone: '+1 555 0100' } });
    // Who sees what in the room.
    expect(mum.info.participants.every((p: any) => p.safety === undefined)).toBe(true);
    expect(kid.info.participants.every((p: any) => p.safety === undefined)).toBe(true);
    const docView = await doc.c.waitFor('participantJoined', (d) => d.identity === 'mum');
    expect(docView.safety.location.region).toBe('US-CA');
    expect(mum.c.notifications.find((n) => n.notification === 'participantJoined')?.data.safety).toBeUndefined();
    doc.c.close(); kid.c.close(); mum.c.close();

    // Restart on the same data dir: the records are still there and the chain verifies.
    const restarted = await startServer({ dataDir: srv.dataDir, consent: { selfConsentRooms: ['teen-room'] } });
    try {
      const res = await fetch(`${restarted.url}/admin/rooms/c4/records`, { headers: admin });
      expect(((await res.json()) as any).participants).toHaveLength(3);
      const verify = await (await fetch(`${restarted.url}/admin/audit/verify`, { headers: admin })).json() as any;
      expect(verify.ok).toBe(true);
    } finally {
      await restarted.handle.close();
    }
  });

  it('withdrawing telehealth cuts real media within 500 ms, keeps the socket, and is recorded', async () => {
    const doc = await joined('c5', 'doc', 'clinician');
    const kid = await joined('c5', 'kid', 'student');
    const send = await kid.c.request('createTransport', { direction: 'send' });
    const mic = await kid.c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
    const cam = await kid.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(), source: 'camera' });
    await kid.c.request('createTransport', { direction: 'recv', rtpCapabilities: kid.info.routerRtpCapabilities });
    const docSend = await doc.c.request('createTransport', { direction: 'send' });
    await doc.c.request('produce', { transportId: docSend.transportId, kind: 'audio', rtpParameters: opusParameters(999), source: 'mic' });
    await doc.c.request('createTransport', { direction: 'recv', rtpCapabilities: doc.info.routerRtpCapabilities });
    const docConsumers = await Promise.all([mic, cam].map((p) => doc.c.waitFor('newConsumer', (d) => d.producerId === p.producerId)));
    await kid.c.waitFor('newConsumer');

    const room = srv.handle.rooms.get('c5')!;
    const kidParticipant = room.participant(kid.info.participantId)!;
    expect(kidParticipant.producers.size).toBe(2);
    expect(kidParticipant.consumers.size).toBe(1);

    const started = performance.now();
    const res = await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    await Promise.all(docConsumers.map((c) => doc.c.waitFor('consumerClosed', (d) => d.consumerId === c.consumerId)));
    const elapsed = performance.now() - started;
    console.info(JSON.stringify({ measure: 'withdrawal-to-peer-consumerClosed-ms', value: Math.round(elapsed * 10) / 10 }));
    expect(elapsed).toBeLessThan(500);
    expect(res).toEqual({ consentScopes: [], mediaAllowed: false });
    expect(kidParticipant.producers.size).toBe(0);
    expect(kidParticipant.consumers.size).toBe(0);
    expect(await doc.c.waitFor('consentWithdrawn')).toEqual({ participantId: kid.info.participantId, scopes: ['telehealth'] });
    // Still connected, but no media.
    expect((await kid.c.raw('createTransport', { direction: 'send' })).error.code).toBe('CONSENT_WITHDRAWN');
    expect(kid.c.ws.readyState).toBe(kid.c.ws.OPEN);
    const recs = await getJson('/admin/rooms/c5/records');
    expect(recs.participants.find((p: any) => p.identity === 'kid').consents.map((c: any) => c.kind)).toEqual(['grant', 'withdrawal']);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_consent_withdrawals_total\{scope="telehealth"\} 1/);
    expect(metrics).toMatch(/sfu_admissions_total\{result="admitted"\} \d+/);
    expect(metrics).toMatch(/sfu_admissions_total\{result="CONSENT_REQUIRED"\} \d+/);
    expect(metrics).toMatch(/sfu_store_write_duration_seconds_count\{op="admission"\} \d+/);
    doc.c.close(); kid.c.close();
  });

  it('withdrawing recording alone is recorded and announced, and media goes on', async () => {
    const doc = await joined('c6', 'doc', 'clinician');
    const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint('c6', 'kid', 'student') });
    await kid.request('join', { consent: { ...TEST_CONSENT, scopes: ['telehealth', 'recording'] }, location: TEST_LOCATION });
    expect(await kid.request('withdrawConsent', { scopes: ['recording'] })).toEqual({ consentScopes: ['telehealth'], mediaAllowed: true });
    expect((await doc.c.waitFor('consentWithdrawn')).scopes).toEqual(['recording']);
    expect((await kid.request('createTransport', { direction: 'send' })).transportId).toBeTruthy();
    doc.c.close(); kid.close();
  });

  it('appends location updates and tells clinicians only', async () => {
    const doc = await joined('c7', 'doc', 'clinician');
    const mum = await joined('c7', 'mum', 'guardian');
    const kid = await joined('c7', 'kid', 'student');
    const moved = { ...TEST_LOCATION, description: 'Home, kitchen', source: 'device-geolocation', coordinates: { lat: 37.5, lon: -122.1, accuracyMeters: 15 } };
    await kid.c.request('updateLocation', { location: moved });
    expect(await doc.c.waitFor('locationUpdated')).toMatchObject({ participantId: kid.info.participantId, location: { description: 'Home, kitchen', region: 'US-CA' } });
    await new Promise((r) => setTimeout(r, 100));
    expect(mum.c.notifications.some((n) => n.notification === 'locationUpdated')).toBe(false);
    expect((await kid.c.raw('updateLocation', { location: { ...moved, region: 'nowhere' } })).error.code).toBe('INVALID_LOCATION');
    const badTime = await kid.c.raw('updateLocation', { location: { ...moved, capturedAt: 'March 7, 2020 10:00' } });
    expect(badTime.error).toMatchObject({ code: 'INVALID_LOCATION', message: expect.stringMatching(/^location\.capturedAt: must be an RFC 3339/) });
    const recs = await getJson('/admin/rooms/c7/records');
    const kidRecs = recs.participants.find((p: any) => p.identity === 'kid');
    expect(kidRecs.locations.map((l: any) => l.description)).toEqual(['Test School, room 4', 'Home, kitchen']);
    expect(kidRecs.locations[1].coordinates).toEqual({ lat: 37.5, lon: -122.1, accuracyMeters: 15 });
    expect(await srv.handle.store.latestLocation(kid.info.participantId)).toMatchObject({ description: 'Home, kitchen' });
    doc.c.close(); mum.c.close(); kid.c.close();
  });

  it('audits admissions and refusals; the verifier names a row modified in the database file', async () => {
    const trail = await getJson('/admin/rooms/c1/audit');
    const kinds = trail.entries.map((e: any) => e.kind);
    expect(kinds).toContain('admission.refused');
    expect(kinds).toContain('admission.granted');
    expect(JSON.stringify(trail)).not.toContain('Test School');
    expect((await getJson('/admin/audit/verify')).ok).toBe(true);
    const db = new DatabaseSync(join(srv.dataDir, 'records.db'));
    const victim = trail.entries[1].seq;
    db.prepare('UPDATE audit SET actor = ? WHERE seq = ?').run('someone-else', victim);
    db.close();
    expect(await getJson('/admin/audit/verify')).toMatchObject({ ok: false, brokenAt: victim });
  });
});
