import { createECDH } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION } from '../helpers/ws-client.ts';
import { until } from '../helpers/until.ts';

const lines: string[] = [];
const sink = new Writable({ write(chunk, _enc, cb) { lines.push(chunk.toString()); cb(); } });
let srv: TestServer;
beforeAll(async () => { srv = await startServer({}, sink); });
afterAll(async () => { await srv.close(); });

describe('logs', () => {
  it('never carry a token, a name, a location, a phone number or a resume token, even at debug level', async () => {
    const token = srv.mint('log-room', 'kid-7', 'student');
    const c = await RtcClient.connect(srv.wsUrl, { token });
    const location = { ...TEST_LOCATION, description: 'Zanzibar Hall 7', coordinates: { lat: 12.3456789, lon: 98.7654321 }, emergencyContact: { name: 'Ximena Contactperson', phone: '+1 555 7319 4268' } };
    const joined = await c.request('join', { displayName: 'Jordan Quill-Appleby', consent: { ...TEST_CONSENT, grantedBy: { relation: 'guardian', name: 'Quentin Guardianname' } }, location });
    await c.request('updateLocation', { location: { ...location, description: 'Yellowstone Annex' } });
    await c.raw('updateLocation', { location: { ...location, region: 'Zanzibar Hall 7' } });
    await c.raw('join', { displayName: 'Jordan Quill-Appleby' });
    const refused = await RtcClient.connect(srv.wsUrl, { token: srv.mint('log-room', 'kid-8', 'student'), room: 'other' }).catch((e) => e);
    expect(refused.status).toBe(403);
    await fetch(`${srv.url}/healthz?token=${token}`);
    c.close();
    // Whatever the server logs for the dropped connection is logged by the time it has handled it.
    const participant = srv.handle.rooms.get('log-room')!.participant(joined.participantId)!;
    await until(() => participant.state === 'detached', 'the server to handle the closed connection', 5000);
    const all = lines.join('');
    expect(lines.length).toBeGreaterThan(3); // the server did log this session
    expect(all).toContain('signalling connection refused');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]!);
    for (const secret of ['Jordan', 'Quentin', 'Zanzibar', 'Yellowstone', 'Ximena', '7319 4268', '73194268', '12.3456', '98.7654']) {
      expect(all).not.toContain(secret);
    }
    expect(all).not.toContain(joined.resumeToken);
  });

  it('never carry an E2EE public key or a key blob, relayed, refused or malformed', async () => {
    const key = () => createECDH('prime256v1').generateKeys().toString('base64url');
    const [ka, kb] = [key(), key()];
    const a = await RtcClient.connect(srv.wsUrl, { token: srv.mint('log-e2ee', 'doc', 'clinician', { e2ee: 'required' }) });
    const b = await RtcClient.connect(srv.wsUrl, { token: srv.mint('log-e2ee', 'kid', 'student', { e2ee: 'required' }) });
    const ja = await a.request('join', { e2ee: { publicKey: ka } });
    const jb = await b.request('join', { e2ee: { publicKey: kb } });
    const blob = 'QmxvYlNlY3JldFNlbmRlcktleTAxMjM0NTY3ODlhYmNkZWY';
    expect((await a.request('e2eeKeys', { epoch: 1, keys: [{ to: jb.participantId, blob }, { to: 'gone', blob: `${blob}Zz` }] })).delivered).toEqual([jb.participantId]);
    await a.raw('e2eeKeys', { epoch: 1, keys: [{ to: ja.participantId, blob: `${blob}Yy` }] });
    await a.raw('e2eeKeys', { epoch: 1, keys: [{ to: jb.participantId, blob: `${blob}==` }] });
    const bad = await RtcClient.connect(srv.wsUrl, { token: srv.mint('log-e2ee', 'mum', 'guardian', { e2ee: 'required' }) });
    await bad.raw('join', { e2ee: { publicKey: `${ka.slice(0, 80)}Wq9dEfG` } });
    await b.request('leave');
    await a.waitFor('e2eeRekey');
    bad.close(); a.close();
    await until(() => srv.handle.rooms.get('log-e2ee')?.participant(ja.participantId)?.state !== 'admitted', 'the server to handle the closed connection', 5000);
    const all = lines.join('');
    for (const secret of [ka, kb, ka.slice(10, 40), kb.slice(10, 40), blob, blob.slice(5, 30), 'Wq9dEfG']) expect(all).not.toContain(secret);
  });
});
