import { createECDH } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { E2eeMode } from '../../src/domain/e2ee.ts';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT } from '../helpers/ws-client.ts';
import { sendInOneWrite } from '../helpers/one-write.ts';
import { observeFor, until } from '../helpers/until.ts';
import { safetyClient } from '../helpers/safety-client.ts';

// End-to-end encrypted rooms (issue #16), server side: the room's mode and who may join it, the
// relay of sender keys (e2eeKeys -> e2eeKey) and the rekey round after every departure of someone
// who held the others' keys (e2eeRekey). Real server, real WebSocket clients; the keys are real
// P-256 public keys, the blobs random base64url (the server never reads them).

let srv: TestServer;
/** A second server whose configured mode is `required`: the token claim against the configuration. */
let strict: TestServer;
const LIMITS = { signalling: { reconnectGraceSeconds: 1, auditRateLimit: { requestsPerSecond: 1000, burst: 1000 } }, rooms: { maxParticipants: 4 } };
beforeAll(async () => {
  [srv, strict] = await Promise.all([startServer({ ...LIMITS, forwarding: { openRooms: ['group-open'] } }), startServer({ ...LIMITS, e2ee: { mode: 'required' } })]);
});
afterAll(async () => { await Promise.all([srv.close(), strict.close()]); });

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
/** A fresh uncompressed P-256 public key, base64url without padding (what a browser exports as 'raw'). */
const publicKey = () => createECDH('prime256v1').generateKeys().toString('base64url');
const blob = (n = 180) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)).toString('base64url');

interface Who { c: RtcClient; info: any; key: string | undefined }

async function connect(s: TestServer, room: string, identity: string, role: 'clinician' | 'student' | 'guardian', e2ee?: E2eeMode) {
  return RtcClient.connect(s.wsUrl, { token: s.mint(room, identity, role, e2ee ? { e2ee } : {}) });
}

/** Joins; `key: false` joins without e2ee (a client that cannot encrypt). */
async function join(room: string, identity: string, opts: { role?: 'clinician' | 'student' | 'guardian'; key?: boolean; mode?: E2eeMode; server?: TestServer } = {}): Promise<Who> {
  const c = await connect(opts.server ?? srv, room, identity, opts.role ?? 'student', opts.mode);
  const key = opts.key === false ? undefined : publicKey();
  const info = await c.request('join', key ? { e2ee: { publicKey: key } } : {});
  return { c, info, key };
}

/** A join that must be refused: resolves with the error and the close (if any) that followed. */
async function refusedJoin(room: string, identity: string, opts: { key?: string | false; mode?: E2eeMode; server?: TestServer } = {}) {
  const c = await connect(opts.server ?? srv, room, identity, 'student', opts.mode);
  const key = opts.key === undefined ? publicKey() : opts.key;
  const res = await c.raw('join', key === false ? {} : { e2ee: { publicKey: key } });
  expect(res.ok).toBe(false);
  return { c, error: res.error as { code: string; message: string } };
}

const rekeys = (w: Who) => w.c.notifications.filter((n) => n.notification === 'e2eeRekey').map((n) => n.data);
const keysTo = (w: Who) => w.c.notifications.filter((n) => n.notification === 'e2eeKey').map((n) => n.data);
const closeAll = (...ws: Who[]) => { for (const w of ws) w.c.close(); };

describe('the room mode and who may join', () => {
  it('off (the default): keys are accepted and ignored; nobody is told any; e2eeKeys is refused', async () => {
    const a = await join('m-off', 'doc', { role: 'clinician' });
    expect(a.info.e2ee).toEqual({ mode: 'off', active: false, peers: [] });
    const b = await join('m-off', 'kid', { key: false });
    expect(b.info.e2ee).toEqual({ mode: 'off', active: false, peers: [] });
    const joined = await a.c.waitFor('participantJoined');
    expect(joined).not.toHaveProperty('publicKey');
    const res = await a.c.raw('e2eeKeys', { epoch: 0, keys: [{ to: b.info.participantId, blob: blob() }] });
    expect(res.error.code).toBe('E2EE_NOT_ACTIVE');
    closeAll(a, b);
  });

  it('optional, first participant has a key: the room is encrypted; a joiner without one is refused E2EE_UNSUPPORTED (4403)', async () => {
    const a = await join('m-opt1', 'doc', { role: 'clinician', mode: 'optional' });
    expect(a.info.e2ee).toEqual({ mode: 'optional', active: true, peers: [] });
    const refused = await refusedJoin('m-opt1', 'kid', { key: false, mode: 'optional' });
    expect(refused.error.code).toBe('E2EE_UNSUPPORTED');
    expect(await refused.c.closeInfo).toEqual({ code: 4403, reason: 'E2EE_UNSUPPORTED' });
    const b = await join('m-opt1', 'kid', { mode: 'optional' });
    expect(b.info.e2ee).toEqual({ mode: 'optional', active: true, peers: [{ participantId: a.info.participantId, publicKey: a.key }] });
    expect(await a.c.waitFor('participantJoined')).toMatchObject({ participantId: b.info.participantId, publicKey: b.key });
    closeAll(a, b);
  });

  it('optional, first participant has no key: the room is not encrypted and stays so, whoever comes next', async () => {
    const a = await join('m-opt2', 'doc', { role: 'clinician', mode: 'optional', key: false });
    expect(a.info.e2ee).toEqual({ mode: 'optional', active: false, peers: [] });
    const b = await join('m-opt2', 'kid', { mode: 'optional' });
    expect(b.info.e2ee).toEqual({ mode: 'optional', active: false, peers: [] });
    const c = await join('m-opt2', 'mum', { role: 'guardian', mode: 'optional', key: false });
    expect(c.info.e2ee.active).toBe(false);
    expect((await a.c.waitFor('participantJoined', (d) => d.participantId === b.info.participantId))).not.toHaveProperty('publicKey');
    expect((await b.c.raw('e2eeKeys', { epoch: 0, keys: [{ to: a.info.participantId, blob: blob() }] })).error.code).toBe('E2EE_NOT_ACTIVE');
    closeAll(a, b, c);
  });

  it('required: a first participant without a key is refused; with keys everyone is encrypted', async () => {
    const none = await refusedJoin('m-req', 'doc', { key: false, mode: 'required' });
    expect(none.error.code).toBe('E2EE_UNSUPPORTED');
    expect((await none.c.closeInfo).code).toBe(4403);
    const a = await join('m-req', 'doc', { role: 'clinician', mode: 'required' });
    expect(a.info.e2ee).toEqual({ mode: 'required', active: true, peers: [] });
    const b = await join('m-req', 'kid', { mode: 'required' });
    expect(b.info.e2ee.peers).toEqual([{ participantId: a.info.participantId, publicKey: a.key }]);
    expect((await refusedJoin('m-req', 'mum', { key: false, mode: 'required' })).error.code).toBe('E2EE_UNSUPPORTED');
    // Refusals are audited like any refused join (identity, role, code).
    const trail = (await (await fetch(`${srv.url}/admin/rooms/m-req/audit`, { headers: admin })).json() as any).entries;
    const refusals = trail.filter((e: any) => e.kind === 'admission.refused').map((e: any) => [e.actor, JSON.parse(e.detail).code]);
    expect(refusals).toEqual([['doc', 'E2EE_UNSUPPORTED'], ['mum', 'E2EE_UNSUPPORTED']]);
    closeAll(a, b);
  });

  it('the token claim overrides the configuration; the first admitted token fixes the mode: another mode is E2EE_MODE_CONFLICT', async () => {
    // Configured `required`: a token without a claim and without a key cannot open a room.
    expect((await refusedJoin('c-1', 'doc', { key: false, server: strict })).error.code).toBe('E2EE_UNSUPPORTED');
    // A token minted `off` opens an unencrypted room there.
    const a = await join('c-1', 'doc', { role: 'clinician', mode: 'off', key: false, server: strict });
    expect(a.info.e2ee).toEqual({ mode: 'off', active: false, peers: [] });
    // A later token without a claim asks for the configured `required`: not this room's mode.
    const conflict = await refusedJoin('c-1', 'kid', { server: strict });
    expect(conflict.error).toMatchObject({ code: 'E2EE_MODE_CONFLICT', message: expect.stringMatching(/off.*required/) });
    expect(await conflict.c.closeInfo).toEqual({ code: 4403, reason: 'E2EE_MODE_CONFLICT' });
    const b = await join('c-1', 'kid', { mode: 'off', server: strict });
    expect(b.info.e2ee.mode).toBe('off');
    // On the default (`off`) server, a room opened `required` refuses tokens of any other mode.
    const c = await join('c-2', 'doc', { role: 'clinician', mode: 'required' });
    for (const mode of [undefined, 'optional', 'off'] as const) {
      expect((await refusedJoin('c-2', `kid-${mode}`, { ...(mode ? { mode } : {}) })).error.code, String(mode)).toBe('E2EE_MODE_CONFLICT');
    }
    closeAll(a, b, c);
  });

  it('two first joins at once with different modes: exactly one fixes the room, the other is refused', async () => {
    for (const [i, modes] of ([['required', 'off'], ['optional', 'required']] as const).entries()) {
      const room = `first-race-${i}`;
      const [x, y] = await Promise.all([connect(srv, room, 'doc', 'clinician', modes[0]), connect(srv, room, 'kid', 'student', modes[1])]);
      const [rx, ry] = await Promise.all([x.raw('join', { e2ee: { publicKey: publicKey() } }), y.raw('join', { e2ee: { publicKey: publicKey() } })]);
      expect([rx.ok, ry.ok].filter(Boolean), JSON.stringify([rx.error, ry.error])).toHaveLength(1);
      const [won, lost] = rx.ok ? [rx, ry] : [ry, rx];
      expect(won.data.e2ee).toMatchObject({ mode: rx.ok ? modes[0] : modes[1], active: true });
      expect(lost.error.code).toBe('E2EE_MODE_CONFLICT');
      expect(srv.handle.rooms.get(room)!.size).toBe(1);
      x.close(); y.close();
    }
    // optional: a first join with a key and one without, at once: either order gives a consistent room.
    const [x, y] = await Promise.all([connect(srv, 'first-race-opt', 'doc', 'clinician', 'optional'), connect(srv, 'first-race-opt', 'kid', 'student', 'optional')]);
    const [rx, ry] = await Promise.all([x.raw('join', { e2ee: { publicKey: publicKey() } }), y.raw('join', {})]);
    if (rx.ok && ry.ok) {
      // The keyless one was first: not encrypted, both in.
      expect([rx.data.e2ee.active, ry.data.e2ee.active]).toEqual([false, false]);
    } else {
      expect(rx.data.e2ee).toMatchObject({ active: true });
      expect(ry.error.code).toBe('E2EE_UNSUPPORTED');
    }
    x.close(); y.close();
  });

  it('refuses a malformed public key with E2EE_INVALID_KEY naming the field, and keeps the socket open for a corrected join', async () => {
    const good = createECDH('prime256v1').generateKeys();
    const compressed = Buffer.from(good); compressed[0] = 0x02;
    const text = good.toString('base64url');
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The 87th character carries 4 bits of the last byte and 2 that must be zero: set one of those.
    const nonCanonical = text.slice(0, 86) + B64URL[B64URL.indexOf(text.at(-1)!) | 1];
    const cases: [string, RegExp][] = [
      [good.subarray(0, 64).toString('base64url'), /must be 87 base64url characters/],
      [good.toString('base64'), /must be 87 base64url characters/],
      [`${text}=`, /must be 87 base64url characters/],
      [`${text.slice(0, 86)}*`, /must be base64url/],
      [compressed.toString('base64url'), /uncompressed P-256 point/],
      [nonCanonical, /not canonical/],
    ];
    const c = await connect(srv, 'bad-keys', 'kid', 'student', 'required');
    for (const [key, message] of cases.slice(0, 2)) {
      const res = await c.raw('join', { e2ee: { publicKey: key } });
      expect(res.error.code, key).toBe('E2EE_INVALID_KEY');
      expect(res.error.message).toMatch(/^e2ee\.publicKey: /);
      expect(res.error.message).toMatch(message);
    }
    // Two refused joins so far (maxRefusedJoins 3): a correct join still goes through on the same socket.
    const ok = await c.request('join', { e2ee: { publicKey: good.toString('base64url') } });
    expect(ok.e2ee.active).toBe(true);
    c.close();
    for (const [key, message] of cases.slice(2)) {
      const r = await refusedJoin('bad-keys-2', 'kid', { key, mode: 'required' });
      expect(r.error.code, key).toBe('E2EE_INVALID_KEY');
      expect(r.error.message).toMatch(message);
      r.c.close();
    }
    // Not a string, or an extra field: the schema (INVALID_REQUEST).
    const s = await connect(srv, 'bad-keys-3', 'kid', 'student');
    expect((await s.raw('join', { e2ee: { publicKey: 5 } })).error.code).toBe('INVALID_REQUEST');
    expect((await s.raw('join', { e2ee: { publicKey: good.toString('base64url'), algorithm: 'P-256' } })).error.code).toBe('INVALID_REQUEST');
    s.close();
  });

  it('a resume keeps the session\'s key (a key sent with the resume is ignored); the link check tells the page the mode', async () => {
    const a = await join('resume-key', 'doc', { role: 'clinician', mode: 'required' });
    const b = await join('resume-key', 'kid', { mode: 'required' });
    b.c.close();
    await a.c.waitFor('participantConnection', (d) => d.state === 'reconnecting');
    const again = await connect(srv, 'resume-key', 'kid', 'student', 'required');
    const resumed = await again.request('join', { resumeToken: b.info.resumeToken, e2ee: { publicKey: publicKey() } });
    expect(resumed.resumed).toBe(true);
    expect(resumed.e2ee).toEqual({ mode: 'required', active: true, peers: [{ participantId: a.info.participantId, publicKey: a.key }] });
    const c = await join('resume-key', 'mum', { role: 'guardian', mode: 'required' });
    expect(c.info.e2ee.peers).toEqual(expect.arrayContaining([{ participantId: b.info.participantId, publicKey: b.key }]));

    const check = async (mode?: E2eeMode) => (await (await fetch(`${srv.url}/api/link-check`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: srv.mint('lc', 'kid', 'student', mode ? { e2ee: mode } : {}) }),
    })).json() as any).e2ee;
    expect([await check(), await check('optional'), await check('required')]).toEqual(['off', 'optional', 'required']);
    closeAll(a, c); again.close();
  });
});

describe('what E2EE leaves alone', () => {
  it('the panic channel and consent work as ever in an encrypted room, the student\'s media withdrawn', async () => {
    const doc = await join('safe-e2ee', 'doc', { role: 'clinician', mode: 'required' });
    const kid = await join('safe-e2ee', 'kid', { mode: 'required' });
    await kid.c.request('withdrawConsent', { scopes: ['telehealth'] });
    const panic = await safetyClient(srv.url, srv.mint('safe-e2ee', 'kid', 'student', { e2ee: 'required' }), 'websocket');
    const raised = await panic.send('panic:raise', { kind: 'medical', silent: true, clientIncidentId: `e2ee-${Date.now()}` });
    expect(raised.ok, JSON.stringify(raised)).toBe(true);
    const alert = await doc.c.waitFor('panicAlert');
    expect(alert.incident.id).toBe(raised.data.incidentId);
    // The alarm carries the student's location in clear: the panic channel is not end-to-end encrypted, by design.
    expect(JSON.stringify(alert)).toContain('US-CA');
    expect(await kid.c.request('grantConsent', { consent: TEST_CONSENT })).toEqual({ consentScopes: ['telehealth'], mediaAllowed: true });
    panic.socket.close(); closeAll(doc, kid);
  });
});

describe('e2eeKeys: the relay of sender keys', () => {
  it('delivers each blob untouched to participants who may receive media, and says who was refused', async () => {
    const a = await join('k-1', 'doc', { role: 'clinician', mode: 'required' });
    const b = await join('k-1', 'kid', { mode: 'required' });
    const c = await join('k-1', 'mum', { role: 'guardian', mode: 'required' });
    const [toB, toC] = [blob(200), blob(512 * 3 / 4)];
    expect(toC).toHaveLength(512);
    const res = await a.c.request('e2eeKeys', { epoch: 7, keys: [{ to: b.info.participantId, blob: toB }, { to: c.info.participantId, blob: toC }, { to: 'nobody-here', blob: blob() }] });
    expect(res).toEqual({ delivered: [b.info.participantId, c.info.participantId], refused: [{ to: 'nobody-here', code: 'PARTICIPANT_NOT_FOUND' }] });
    expect(await b.c.waitFor('e2eeKey')).toEqual({ from: a.info.participantId, epoch: 7, blob: toB });
    expect(await c.c.waitFor('e2eeKey')).toEqual({ from: a.info.participantId, epoch: 7, blob: toC });
    expect(keysTo(a)).toEqual([]);

    // A participant who withdrew consent gets no key; after consent is given again, it does (no rekey for that).
    await c.c.request('withdrawConsent', { scopes: ['telehealth'] });
    const refused = await a.c.request('e2eeKeys', { epoch: 8, keys: [{ to: c.info.participantId, blob: blob() }, { to: b.info.participantId, blob: blob() }] });
    expect(refused).toEqual({ delivered: [b.info.participantId], refused: [{ to: c.info.participantId, code: 'CONSENT_WITHDRAWN' }] });
    // ... and sends none while withdrawn.
    expect((await c.c.raw('e2eeKeys', { epoch: 1, keys: [{ to: a.info.participantId, blob: blob() }] })).error.code).toBe('CONSENT_WITHDRAWN');
    await c.c.request('grantConsent', { consent: TEST_CONSENT });
    await a.c.waitFor('consentGranted');
    expect(await a.c.request('e2eeKeys', { epoch: 8, keys: [{ to: c.info.participantId, blob: toB }] })).toEqual({ delivered: [c.info.participantId], refused: [] });
    expect(keysTo(c).map((k) => k.epoch)).toEqual([7, 8]);
    await observeFor(100);
    expect(rekeys(a).map((r) => r.reason)).toEqual(['consentWithdrawn']);

    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_e2ee_key_messages_total\{result="delivered"\} [1-9]/);
    expect(metrics).toMatch(/sfu_e2ee_key_messages_total\{result="CONSENT_WITHDRAWN"\} [1-9]/);
    expect(metrics).toMatch(/sfu_e2ee_rooms [1-9]/);
    expect(metrics).toMatch(/sfu_e2ee_rekeys_total\{reason="consentWithdrawn"\} [1-9]/);
    closeAll(a, b, c);
  });

  it('a key goes only where the sender\'s media may go: the forwarding policy and the subscribe permission', async () => {
    // A group: students do not receive each other (default forwarding.receive); a third student may not subscribe.
    const doc = await join('group', 'doc', { role: 'clinician', mode: 'required' });
    const s1 = await join('group', 's1', { mode: 'required' });
    const s2 = await join('group', 's2', { mode: 'required' });
    const quiet = await (async () => {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('group', 's3', 'student', { e2ee: 'required', subscribe: false }) });
      return { c, info: await c.request('join', { e2ee: { publicKey: publicKey() } }), key: undefined } as Who;
    })();
    const id = (w: Who) => w.info.participantId as string;
    const all = (from: Who) => [doc, s1, s2, quiet].filter((w) => w !== from).map((w) => ({ to: id(w), blob: 'AA' }));
    expect(await s1.c.request('e2eeKeys', { epoch: 0, keys: all(s1) })).toEqual({
      delivered: [id(doc)], refused: [{ to: id(s2), code: 'PERMISSION_DENIED' }, { to: id(quiet), code: 'PERMISSION_DENIED' }],
    });
    expect(await doc.c.request('e2eeKeys', { epoch: 0, keys: all(doc) })).toEqual({
      delivered: [id(s1), id(s2)], refused: [{ to: id(quiet), code: 'PERMISSION_DENIED' }],
    });
    // Every peer's public key is still given (the security code covers everyone).
    expect(quiet.info.e2ee.peers.map((p: any) => p.participantId).sort()).toEqual([id(doc), id(s1), id(s2)].sort());
    // A rekey names, for each receiver, only those who may receive its media.
    await s2.c.request('leave');
    expect(await doc.c.waitFor('e2eeRekey')).toEqual({ reason: 'left', participantId: id(s2), recipients: [id(s1)] });
    expect(await s1.c.waitFor('e2eeRekey')).toEqual({ reason: 'left', participantId: id(s2), recipients: [id(doc)] });
    expect(await quiet.c.waitFor('e2eeRekey')).toEqual({ reason: 'left', participantId: id(s2), recipients: [id(doc)] });
    closeAll(doc, s1, quiet);

    // An open room (forwarding.openRooms): students receive each other, so they get each other's keys.
    const o1 = await join('group-open', 's1', { mode: 'required' });
    const o2 = await join('group-open', 's2', { mode: 'required' });
    expect(await o1.c.request('e2eeKeys', { epoch: 0, keys: [{ to: id(o2), blob: 'AA' }] })).toEqual({ delivered: [id(o2)], refused: [] });
    closeAll(o1, o2);
  });

  it('checks its data: blob charset and size, entry count, epoch, own id, duplicates; not before join', async () => {
    const a = await join('k-2', 'doc', { role: 'clinician', mode: 'required' });
    const b = await join('k-2', 'kid', { mode: 'required' });
    const to = b.info.participantId;
    const bad: [unknown, string | RegExp][] = [
      [{ epoch: 0, keys: [{ to, blob: 'x'.repeat(513) }] }, /^keys\.0\.blob: /],
      [{ epoch: 0, keys: [{ to, blob: 'abc=' }] }, /^keys\.0\.blob: /],
      [{ epoch: 0, keys: [{ to, blob: 'ab+/' }] }, /^keys\.0\.blob: /],
      [{ epoch: 0, keys: [{ to, blob: '' }] }, /^keys\.0\.blob: /],
      [{ epoch: -1, keys: [{ to, blob: 'AA' }] }, /^epoch: /],
      [{ epoch: 1.5, keys: [{ to, blob: 'AA' }] }, /^epoch: /],
      [{ epoch: 0, keys: [] }, /^keys: /],
      [{ epoch: 0, keys: [{ to, blob: 'AA', from: 'x' }] }, /^keys\.0\.from: |^keys\.0: /],
      [{ keys: [{ to, blob: 'AA' }] }, /epoch/],
      [{ epoch: 0, keys: Array.from({ length: 5 }, (_, i) => ({ to: `p${i}`, blob: 'AA' })) }, 'keys: at most 4 entries (rooms.maxParticipants)'],
      [{ epoch: 0, keys: [{ to: a.info.participantId, blob: 'AA' }] }, 'keys.0.to: is your own participantId'],
      [{ epoch: 0, keys: [{ to, blob: 'AA' }, { to, blob: 'AB' }] }, 'keys.1.to: appears twice'],
    ];
    for (const [data, message] of bad) {
      const res = await a.c.raw('e2eeKeys', data);
      expect(res.error?.code, JSON.stringify(data).slice(0, 80)).toBe('INVALID_REQUEST');
      if (typeof message === 'string') expect(res.error.message).toBe(message);
      else expect(res.error.message).toMatch(message);
    }
    await observeFor(100);
    expect(keysTo(b)).toEqual([]);
    const stranger = await connect(srv, 'k-2', 'mum', 'guardian', 'required');
    expect((await stranger.raw('e2eeKeys', { epoch: 0, keys: [{ to, blob: 'AA' }] })).error.code).toBe('NOT_JOINED');
    stranger.close(); closeAll(a, b);
  });
});

describe('e2eeRekey: a departure makes the others change keys', () => {
  /** A room of three with keys; `c` is the one who goes. */
  async function trio(room: string) {
    const a = await join(room, 'doc', { role: 'clinician', mode: 'required' });
    const b = await join(room, 'mum', { role: 'guardian', mode: 'required' });
    const c = await join(room, 'kid', { mode: 'required' });
    await until(() => a.c.notifications.filter((n) => n.notification === 'participantJoined').length === 2, 'a sees both');
    return { a, b, c, ids: { a: a.info.participantId as string, b: b.info.participantId as string, c: c.info.participantId as string } };
  }

  it('on leave: once, to each remaining participant, with the others as recipients; the one who left gets none', async () => {
    const { a, b, c, ids } = await trio('r-leave');
    await c.c.request('leave');
    expect(await a.c.waitFor('e2eeRekey')).toEqual({ reason: 'left', participantId: ids.c, recipients: [ids.b] });
    expect(await b.c.waitFor('e2eeRekey')).toEqual({ reason: 'left', participantId: ids.c, recipients: [ids.a] });
    // participantLeft comes first (who left), then the rekey.
    const names = a.c.notifications.map((n) => n.notification);
    expect(names.indexOf('participantLeft')).toBeLessThan(names.indexOf('e2eeRekey'));
    await observeFor(150);
    expect([rekeys(a).length, rekeys(b).length, rekeys(c).length]).toEqual([1, 1, 0]);
    // The new key goes to the recipients; the one who left is not there any more.
    expect(await a.c.request('e2eeKeys', { epoch: 1, keys: [{ to: ids.b, blob: blob() }, { to: ids.c, blob: blob() }] }))
      .toEqual({ delivered: [ids.b], refused: [{ to: ids.c, code: 'PARTICIPANT_NOT_FOUND' }] });
    closeAll(a, b);
  });

  it('on kick: reason kicked; the kicked participant gets `kicked`, never the rekey', async () => {
    const { a, b, c, ids } = await trio('r-kick');
    const res = await fetch(`${srv.url}/admin/rooms/r-kick/kick`, {
      method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ identity: 'kid', durationSeconds: 60 }),
    });
    expect(res.status).toBe(200);
    expect(await a.c.waitFor('e2eeRekey')).toEqual({ reason: 'kicked', participantId: ids.c, recipients: [ids.b] });
    expect(await b.c.waitFor('e2eeRekey')).toEqual({ reason: 'kicked', participantId: ids.c, recipients: [ids.a] });
    expect((await c.c.closeInfo).code).toBe(4403);
    expect(c.c.notifications.map((n) => n.notification)).toContain('kicked');
    expect(rekeys(c)).toEqual([]);
    await observeFor(150);
    expect([rekeys(a).length, rekeys(b).length]).toEqual([1, 1]);
    closeAll(a, b);
  });

  it('on consent withdrawal: the withdrawn participant stays, is not a recipient and gets no rekey; its later leave needs none', async () => {
    const { a, b, c, ids } = await trio('r-withdraw');
    await c.c.request('withdrawConsent', { scopes: ['telehealth'] });
    expect(await a.c.waitFor('e2eeRekey')).toEqual({ reason: 'consentWithdrawn', participantId: ids.c, recipients: [ids.b] });
    expect(await b.c.waitFor('e2eeRekey')).toEqual({ reason: 'consentWithdrawn', participantId: ids.c, recipients: [ids.a] });
    // Withdrawing `recording` alone, or `telehealth` again, changes no keys.
    await c.c.request('withdrawConsent', { scopes: ['telehealth'] });
    await b.c.request('withdrawConsent', { scopes: ['recording'] });
    // A participant withdrawn already holds no current key: its leave needs no second round.
    await c.c.request('leave');
    await a.c.waitFor('participantLeft');
    await observeFor(150);
    expect([rekeys(a).length, rekeys(b).length, rekeys(c).length]).toEqual([1, 1, 0]);
    closeAll(a, b);
  });

  it('on grace expiry: reason expired, once the reconnection grace ran out', async () => {
    const { a, b, c, ids } = await trio('r-expire');
    c.c.ws.terminate();
    await a.c.waitFor('participantConnection', (d) => d.state === 'reconnecting');
    expect(rekeys(a)).toEqual([]); // a dropped connection alone changes nothing: it may come back
    expect(await a.c.waitFor('e2eeRekey', () => true, 4000)).toEqual({ reason: 'expired', participantId: ids.c, recipients: [ids.b] });
    expect(await b.c.waitFor('e2eeRekey')).toEqual({ reason: 'expired', participantId: ids.c, recipients: [ids.a] });
    expect(await a.c.waitFor('participantLeft')).toEqual({ participantId: ids.c, reason: 'DISCONNECTED' });
    closeAll(a, b);
  });

  it('a new join that replaces a session whose connection was lost: reason expired, then the newcomer with its new key', async () => {
    const { a, b, c, ids } = await trio('r-replace');
    c.c.ws.terminate();
    await a.c.waitFor('participantConnection', (d) => d.state === 'reconnecting');
    const again = await join('r-replace', 'kid', { mode: 'required' });
    expect(await a.c.waitFor('e2eeRekey')).toEqual({ reason: 'expired', participantId: ids.c, recipients: [ids.b] });
    const joined = await a.c.waitFor('participantJoined', (d) => d.participantId === again.info.participantId);
    expect(joined.publicKey).toBe(again.key);
    expect(again.info.e2ee.peers.map((p: any) => p.participantId).sort()).toEqual([ids.a, ids.b].sort());
    // Order on a's socket: the old session left, keys changed, then the newcomer arrived (send it the new key).
    const names = a.c.notifications.map((n) => n.notification).filter((n) => ['participantLeft', 'e2eeRekey', 'participantJoined'].includes(n));
    expect(names.slice(-3)).toEqual(['participantLeft', 'e2eeRekey', 'participantJoined']);
    closeAll(a, b, again);
  });

  it('races: withdraw, grant, withdraw in one write gives two rounds in order; withdraw and leave in one write gives one', async () => {
    const { a, b, c, ids } = await trio('r-race');
    sendInOneWrite(c.c.ws, [
      { id: 'w1', method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
      { id: 'g1', method: 'grantConsent', data: { consent: TEST_CONSENT } },
      { id: 'w2', method: 'withdrawConsent', data: { scopes: ['telehealth'] } },
      { id: 'k1', method: 'e2eeKeys', data: { epoch: 3, keys: [{ to: ids.a, blob: 'AA' }] } },
    ]);
    await until(() => c.c.orphanReplies.length === 4, 'four replies');
    expect(c.c.orphanReplies.map((r) => [r.id, r.ok, r.error?.code])).toEqual([['w1', true, undefined], ['g1', true, undefined], ['w2', true, undefined], ['k1', false, 'CONSENT_WITHDRAWN']]);
    await until(() => rekeys(a).length === 2 && rekeys(b).length === 2, 'two rounds');
    expect(rekeys(a)).toEqual([0, 1].map(() => ({ reason: 'consentWithdrawn', participantId: ids.c, recipients: [ids.b] })));
    const order = a.c.notifications.map((n) => n.notification).filter((n) => /^(consent|e2ee)/.test(n));
    expect(order).toEqual(['consentWithdrawn', 'e2eeRekey', 'consentGranted', 'consentWithdrawn', 'e2eeRekey']);
    // End state: c withdrawn, keys to it refused.
    expect((await a.c.request('e2eeKeys', { epoch: 2, keys: [{ to: ids.c, blob: 'AA' }] })).refused).toEqual([{ to: ids.c, code: 'CONSENT_WITHDRAWN' }]);

    // b withdraws and leaves in one write: one round (consentWithdrawn), then participantLeft; a alone is told, with no recipients.
    sendInOneWrite(b.c.ws, [{ id: 'w', method: 'withdrawConsent', data: { scopes: ['telehealth'] } }, { id: 'l', method: 'leave' }]);
    await a.c.waitFor('participantLeft', (d) => d.participantId === ids.b);
    await observeFor(150);
    expect(rekeys(a).slice(2)).toEqual([{ reason: 'consentWithdrawn', participantId: ids.b, recipients: [] }]);
    expect(rekeys(c)).toEqual([]);
    closeAll(a, c);
  });

  it('never in a room that is not encrypted; the admin API says which sessions are', async () => {
    const a = await join('r-plain', 'doc', { role: 'clinician', key: false });
    const b = await join('r-plain', 'kid', { key: false });
    await b.c.request('leave');
    await a.c.waitFor('participantLeft');
    const enc = await join('r-enc', 'doc', { role: 'clinician', mode: 'required' });
    const rooms = (await (await fetch(`${srv.url}/admin/rooms`, { headers: admin })).json() as any).rooms;
    expect(rooms.find((r: any) => r.roomId === 'r-plain').e2ee).toEqual({ mode: 'off', active: false });
    expect(rooms.find((r: any) => r.roomId === 'r-enc').e2ee).toEqual({ mode: 'required', active: true });
    const people = (await (await fetch(`${srv.url}/admin/rooms/r-enc/participants`, { headers: admin })).json() as any).participants;
    expect(people.map((p: any) => p.e2ee)).toEqual([true]);
    // The gauge counts the open encrypted rooms of this node.
    const open = (await (await fetch(`${srv.url}/admin/rooms`, { headers: admin })).json() as any).rooms.filter((r: any) => r.e2ee.active).length;
    expect(await (await fetch(`${srv.url}/metrics`)).text()).toContain(`sfu_e2ee_rooms ${open}\n`);
    await observeFor(100);
    expect(rekeys(a)).toEqual([]);
    closeAll(a, enc);
  });
});
