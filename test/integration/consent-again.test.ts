import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, opusParameters, vp8Parameters } from '../helpers/ws-client.ts';
import { sendInOneWrite } from '../helpers/one-write.ts';
import { until } from '../helpers/until.ts';

// grantConsent (consent given again within the session after a telehealth withdrawal) and
// participantConnection (the others see a participant reconnecting), over the raw protocol.

let srv: TestServer;
const RETRIES = { signalling: { reconnectGraceSeconds: 2, auditRateLimit: { requestsPerSecond: 1000, burst: 1000 } } };
beforeAll(async () => { srv = await startServer({ consent: { selfConsentRooms: ['teen-again'] }, ...RETRIES }); });
afterAll(async () => { await srv.close(); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const getJson = async (path: string): Promise<any> => (await fetch(`${srv.url}${path}`, { headers: admin })).json();

async function joined(room: string, identity: string, role: 'clinician' | 'student' | 'guardian') {
  const token = srv.mint(room, identity, role);
  const c = await RtcClient.connect(srv.wsUrl, { token });
  return { c, token, info: await c.request('join', {}) };
}

const kidRecords = async (room: string) => (await getJson(`/admin/rooms/${room}/records`)).participants.find((p: any) => p.identity === 'kid');
const trailKinds = async (room: string) => (await getJson(`/admin/rooms/${room}/audit`)).entries.map((e: any) => e.kind);

describe('grantConsent', () => {
  it('is refused while consent is in force, and for a bad policy version, a missing guardian or a malformed consent', async () => {
    const doc = await joined('g1', 'doc', 'clinician');
    const kid = await joined('g1', 'kid', 'student');
    expect((await kid.c.raw('grantConsent', { consent: TEST_CONSENT })).error.code).toBe('CONSENT_IN_FORCE');
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    const cases: [unknown, string, RegExp][] = [
      [{ ...TEST_CONSENT, policyVersion: '2019-01' }, 'CONSENT_VERSION_OUTDATED', /current version is 2026-09/],
      [{ ...TEST_CONSENT, grantedBy: { relation: 'self', name: 'Kid' } }, 'INVALID_CONSENT', /^consent\.grantedBy\.relation: a student's consent must come from a guardian/],
      [{ ...TEST_CONSENT, grantedBy: { relation: 'guardian' } }, 'INVALID_CONSENT', /^consent\.grantedBy/],
      [{ ...TEST_CONSENT, scopes: ['recording'] }, 'INVALID_CONSENT', /^consent\.scopes/],
      [{ ...TEST_CONSENT, method: 'verbal-attested', attestedBy: 'kid' }, 'INVALID_CONSENT', /^consent\.attestedBy: names the person joining/],
      [null, 'CONSENT_REQUIRED', /consent/],
    ];
    for (const [consent, code, message] of cases) {
      const res = await kid.c.raw('grantConsent', { consent });
      expect(res.error.code, JSON.stringify(consent)).toBe(code);
      expect(res.error.message).toMatch(message);
    }
    expect((await kid.c.raw('grantConsent', {})).error.code).toBe('INVALID_REQUEST');
    // Nothing was recorded by the refusals; media stays refused.
    expect((await kidRecords('g1')).consents.map((c: any) => c.kind)).toEqual(['grant', 'withdrawal']);
    expect((await kid.c.raw('createTransport', { direction: 'send' })).error.code).toBe('CONSENT_WITHDRAWN');
    expect(doc.c.notifications.some((n) => n.notification === 'consentGranted')).toBe(false);
    // Not joined: nothing to grant.
    const stranger = await RtcClient.connect(srv.wsUrl, { token: srv.mint('g1', 'other', 'student') });
    expect((await stranger.raw('grantConsent', { consent: TEST_CONSENT })).error.code).toBe('NOT_JOINED');
    stranger.close(); doc.c.close(); kid.c.close();
  });

  it('records a consent grant and consent.granted, tells the room, and lets media flow again', async () => {
    const doc = await joined('g2', 'doc', 'clinician');
    const kid = await joined('g2', 'kid', 'student');
    await doc.c.request('createTransport', { direction: 'recv', rtpCapabilities: doc.info.routerRtpCapabilities });
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    await doc.c.waitFor('consentWithdrawn');

    const again = { ...TEST_CONSENT, grantedBy: { relation: 'guardian', name: 'Second Guardian' }, method: 'verbal-attested', attestedBy: 'doc' };
    expect(await kid.c.request('grantConsent', { consent: again })).toEqual({ consentScopes: ['telehealth'], mediaAllowed: true });
    expect(await doc.c.waitFor('consentGranted')).toEqual({ participantId: kid.info.participantId, scopes: ['telehealth'] });
    expect(await kid.c.waitFor('consentGranted')).toEqual({ participantId: kid.info.participantId, scopes: ['telehealth'] });

    // The record: a third consent row, a grant with the new consent (the name sealed, read back by the admin API).
    const consents = (await kidRecords('g2')).consents;
    expect(consents.map((c: any) => c.kind)).toEqual(['grant', 'withdrawal', 'grant']);
    expect(consents[2]).toMatchObject({ policyVersion: '2026-09', scopes: ['telehealth'], method: 'verbal-attested', attestedBy: 'doc', grantedBy: { relation: 'guardian', name: 'Second Guardian' } });
    // The audit trail: consent.granted exactly as at admission (ids, role, policy, scopes, relation, method; never the name).
    const trail = (await getJson('/admin/rooms/g2/audit')).entries.filter((e: any) => e.actor === 'kid');
    expect(trail.map((e: any) => e.kind)).toEqual(['consent.granted', 'location.recorded', 'admission.granted', 'consent.withdrawn', 'consent.granted']);
    const [first, , , , last] = trail.map((e: any) => JSON.parse(e.detail));
    expect(Object.keys(last).sort()).toEqual(Object.keys(first).sort());
    expect(last).toMatchObject({ sessionId: kid.info.participantId, role: 'student', scopes: ['telehealth'], relation: 'guardian', method: 'verbal-attested', attestedBy: 'doc' });
    expect(JSON.stringify(trail)).not.toContain('Second Guardian');
    expect((await getJson('/admin/audit/verify')).ok).toBe(true);

    // Media again: the clinician receives the student's new producers.
    const send = await kid.c.request('createTransport', { direction: 'send' });
    const cam = await kid.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(), source: 'camera' });
    expect((await doc.c.waitFor('newConsumer', (d) => d.producerId === cam.producerId)).participantId).toBe(kid.info.participantId);
    // Consent in force again: a second grant is refused.
    expect((await kid.c.raw('grantConsent', { consent: TEST_CONSENT })).error.code).toBe('CONSENT_IN_FORCE');
    doc.c.close(); kid.c.close();
  });

  it('a self-consent room lets the student consent again for itself; recording comes back only when granted', async () => {
    const teen = await joined('teen-again', 'kid', 'student');
    await teen.c.request('withdrawConsent', { scopes: ['telehealth'] });
    const self = { ...TEST_CONSENT, grantedBy: { relation: 'self', name: 'Teen' } };
    expect(await teen.c.request('grantConsent', { consent: self })).toEqual({ consentScopes: ['telehealth'], mediaAllowed: true });
    await teen.c.request('withdrawConsent', { scopes: ['telehealth'] });
    expect(await teen.c.request('grantConsent', { consent: { ...self, scopes: ['telehealth', 'recording'] } }))
      .toEqual({ consentScopes: ['telehealth', 'recording'], mediaAllowed: true });
    teen.c.close();
  });

  it('withdraw and grant again in one write: both answered in order, consent in force, records in that order', async () => {
    const doc = await joined('g3', 'doc', 'clinician');
    const kid = await joined('g3', 'kid', 'student');
    const send = await kid.c.request('createTransport', { direction: 'send' });
    await kid.c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
    const msgs = [
      { id: 'w', method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
      { id: 'g', method: 'grantConsent', data: { consent: TEST_CONSENT } },
      { id: 'g2', method: 'grantConsent', data: { consent: TEST_CONSENT } },
      { id: 't', method: 'createTransport', data: { direction: 'send' } },
    ];
    sendInOneWrite(kid.c.ws, msgs);
    await until(() => kid.c.orphanReplies.length >= msgs.length, 'every response of the burst');
    const replies = kid.c.orphanReplies;
    expect(replies.map((r) => r.id)).toEqual(['w', 'g', 'g2', 't']);
    expect(replies[0]).toMatchObject({ ok: true, data: { consentScopes: [], mediaAllowed: false } });
    expect(replies[1]).toMatchObject({ ok: true, data: { consentScopes: ['telehealth'], mediaAllowed: true } });
    expect(replies[2]).toMatchObject({ ok: false, error: { code: 'CONSENT_IN_FORCE' } });
    expect(replies[3]).toMatchObject({ ok: true, data: { transportId: expect.any(String) } });
    // End state: consent in force, the old transport and producer gone, one new transport.
    const p = srv.handle.rooms.get('g3')!.byIdentity('kid')!;
    expect([...p.facts.consentScopes]).toEqual(['telehealth']);
    expect(p.producers.size).toBe(0);
    expect([...p.transports.keys()]).toEqual([replies[3].data.transportId]);
    expect(send.transportId).not.toBe(replies[3].data.transportId);
    // The clinician heard withdrawn, then granted, in that order.
    await doc.c.waitFor('consentGranted');
    expect(doc.c.notifications.filter((n) => n.notification.startsWith('consent')).map((n) => n.notification)).toEqual(['consentWithdrawn', 'consentGranted']);
    expect((await kidRecords('g3')).consents.map((c: any) => c.kind)).toEqual(['grant', 'withdrawal', 'grant']);
    expect((await trailKinds('g3')).filter((k: string) => k.startsWith('consent.'))).toEqual(['consent.granted', 'consent.granted', 'consent.withdrawn', 'consent.granted']);
    doc.c.close(); kid.c.close();
  });

  it('as a room step: a withdrawal or a removal while the record is written wins; a record that fails changes nothing', async () => {
    const doc = await joined('g5', 'doc', 'clinician'); // keeps the room open when the student is removed
    const kid = await joined('g5', 'kid', 'student');
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    const room = srv.handle.rooms.get('g5')!;
    const p = room.byIdentity('kid')!;
    // Withdrawn again (another connection of the session, say) while the consent is being recorded.
    const raced = room.grantConsent(p, ['telehealth'], async () => { room.withdrawConsent(p, ['telehealth']); });
    await expect(raced).rejects.toMatchObject({ code: 'CONSENT_WITHDRAWN' });
    expect(p.mediaAllowed).toBe(false);
    // The store refuses: nothing changes, nobody is told.
    const failed = room.grantConsent(p, ['telehealth'], async () => { throw Object.assign(new Error('disk full'), { code: 'STORE_UNAVAILABLE' }); });
    await expect(failed).rejects.toThrow('disk full');
    expect(p.mediaAllowed).toBe(false);
    expect(kid.c.notifications.some((n) => n.notification === 'consentGranted')).toBe(false);
    // Removed (a kick, the end of its grace) while the consent is being recorded.
    const removed = room.grantConsent(p, ['telehealth'], async () => { room.remove(p, 'KICKED'); });
    await expect(removed).rejects.toMatchObject({ code: 'NOT_JOINED' });
    expect(p.mediaAllowed).toBe(false);
    expect(doc.c.notifications.some((n) => n.notification === 'consentGranted')).toBe(false);
    kid.c.close(); doc.c.close();
  });

  it('counts grants and refusals', async () => {
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_consent_grants_total\{result="granted"\} [1-9]/);
    expect(metrics).toMatch(/sfu_consent_grants_total\{result="CONSENT_IN_FORCE"\} [1-9]/);
    expect(metrics).toMatch(/sfu_store_write_duration_seconds_count\{op="consent"\} [1-9]/);
  });

  it('the join response says the consent in force, also on a resume after a withdrawal', async () => {
    const kid = await joined('g6', 'kid', 'student');
    expect(kid.info.consentScopes).toEqual(['telehealth']);
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    kid.c.ws.terminate();
    await kid.c.closeInfo;
    const back = await RtcClient.connect(srv.wsUrl, { token: kid.token });
    const resumed = await back.request('join', { resumeToken: kid.info.resumeToken });
    expect(resumed).toMatchObject({ resumed: true, consentScopes: [] });
    expect((await back.raw('createTransport', { direction: 'send' })).error.code).toBe('CONSENT_WITHDRAWN');
    back.close();
  });

  it('a consent granted again stands when the session is resumed', async () => {
    const kid = await joined('g4', 'kid', 'student');
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    await kid.c.request('grantConsent', { consent: TEST_CONSENT });
    kid.c.ws.terminate();
    await kid.c.closeInfo;
    const back = await RtcClient.connect(srv.wsUrl, { token: kid.token });
    expect((await back.request('join', { resumeToken: kid.info.resumeToken })).resumed).toBe(true);
    expect((await back.request('createTransport', { direction: 'send' })).transportId).toBeTruthy();
    back.close();
  });
});

describe('participantConnection', () => {
  it('tells the others when a participant\'s connection drops and when it resumes; a joiner sees it in the list', async () => {
    const doc = await joined('pc1', 'doc', 'clinician');
    const kid = await joined('pc1', 'kid', 'student');
    kid.c.ws.terminate();
    await kid.c.closeInfo;
    expect(await doc.c.waitFor('participantConnection')).toEqual({ participantId: kid.info.participantId, state: 'reconnecting', graceSeconds: 2 });
    // Someone joining meanwhile learns it from the join response.
    const mum = await joined('pc1', 'mum', 'guardian');
    expect(mum.info.participants.find((p: any) => p.identity === 'kid').reconnecting).toBe(true);
    expect(mum.info.participants.find((p: any) => p.identity === 'doc').reconnecting).toBeUndefined();

    const back = await RtcClient.connect(srv.wsUrl, { token: kid.token });
    await back.request('join', { resumeToken: kid.info.resumeToken });
    expect(await doc.c.waitFor('participantConnection', (d) => d.state === 'connected')).toEqual({ participantId: kid.info.participantId, state: 'connected' });
    expect(await mum.c.waitFor('participantConnection', (d) => d.state === 'connected')).toEqual({ participantId: kid.info.participantId, state: 'connected' });
    // The participant itself is not told about itself; a takeover of a live session tells nobody.
    expect(back.notifications.some((n) => n.notification === 'participantConnection')).toBe(false);
    const takeover = await RtcClient.connect(srv.wsUrl, { token: kid.token });
    await takeover.request('join', { resumeToken: kid.info.resumeToken });
    await back.closeInfo;
    // A barrier instead of a pause: the room tells doc of mum's leave after anything the takeover
    // caused (one step at a time per room, one socket in order).
    await mum.c.request('leave', {});
    await doc.c.waitFor('participantLeft', (d) => d.participantId === mum.info.participantId);
    expect(doc.c.notifications.filter((n) => n.notification === 'participantConnection')).toHaveLength(2);
    takeover.close(); doc.c.close(); mum.c.close();
  });

  it('a participant that does not come back within the grace period is reconnecting, then left DISCONNECTED', async () => {
    const doc = await joined('pc2', 'doc', 'clinician');
    const kid = await joined('pc2', 'kid', 'student');
    kid.c.ws.terminate();
    expect((await doc.c.waitFor('participantConnection')).state).toBe('reconnecting');
    expect(await doc.c.waitFor('participantLeft')).toEqual({ participantId: kid.info.participantId, reason: 'DISCONNECTED' });
    expect(doc.c.notifications.filter((n) => n.notification === 'participantConnection').map((n) => n.data.state)).toEqual(['reconnecting']);
    doc.c.close();
  });

  it('a leave is not a reconnection: the others get participantLeft only', async () => {
    const doc = await joined('pc3', 'doc', 'clinician');
    const kid = await joined('pc3', 'kid', 'student');
    await kid.c.request('leave');
    expect((await doc.c.waitFor('participantLeft')).reason).toBe('LEFT');
    expect(doc.c.notifications.some((n) => n.notification === 'participantConnection')).toBe(false);
    doc.c.close();
  });
});
