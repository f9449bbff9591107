import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters } from '../helpers/ws-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ signalling: { reconnectGraceSeconds: 1 } }); });
afterAll(async () => { await srv.close(); });

describe('reconnection', () => {
  it('restores a dropped participant from its resume token, with its transports and missed notifications', async () => {
    const token = srv.mint('r1', 'stud', 'student');
    const a = await RtcClient.connect(srv.wsUrl, { token });
    const first = await a.request('join', {});
    const recv = await a.request('createTransport', { direction: 'recv', rtpCapabilities: first.routerRtpCapabilities });
    const b = await RtcClient.connect(srv.wsUrl, { token: srv.mint('r1', 'clin', 'clinician') });
    await b.request('join', {});

    a.ws.terminate(); // the network drops; no leave
    await a.closeInfo;
    // While A is away, B publishes: A's consumer notification is queued for it.
    const send = await b.request('createTransport', { direction: 'send' });
    const mic = await b.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });

    const a2 = await RtcClient.connect(srv.wsUrl, { token });
    const resumed = await a2.request('join', { resumeToken: first.resumeToken });
    expect(resumed).toMatchObject({ resumed: true, participantId: first.participantId });
    expect(resumed.transports).toEqual([{ transportId: recv.transportId, direction: 'recv' }]);
    expect((await a2.waitFor('newConsumer')).producerId).toBe(mic.producerId);
    const ice = await a2.request('restartIce', { transportId: recv.transportId });
    expect(ice.iceParameters.password).toBeTruthy();
    // B never saw A leave.
    expect(b.notifications.some((n) => n.notification === 'participantLeft')).toBe(false);
    a2.close(); b.close();
  });

  it('a fresh join without a resume token replaces a session whose connection is gone; a connected one is refused', async () => {
    const long = await startServer({ signalling: { reconnectGraceSeconds: 30 } });
    try {
      const token = long.mint('r9', 'doc', 'clinician');
      const peer = await RtcClient.connect(long.wsUrl, { token: long.mint('r9', 'kid', 'student') });
      await peer.request('join', {});
      const a = await RtcClient.connect(long.wsUrl, { token });
      const first = await a.request('join', {});
      // A second live connection of the same identity is still refused.
      const live = await RtcClient.connect(long.wsUrl, { token });
      expect((await live.raw('join', {})).error.code).toBe('DUPLICATE_IDENTITY');
      a.ws.terminate(); // e.g. a page reload whose leave never reached the server
      await a.closeInfo;
      await until(() => long.handle.rooms.get('r9')?.byIdentity('doc')?.state === 'detached', 'the old session to be detached');
      const b = await RtcClient.connect(long.wsUrl, { token });
      const second = await b.request('join', {});
      expect(second.resumed).toBe(false);
      expect(second.participantId).not.toBe(first.participantId);
      expect((await peer.waitFor('participantLeft')).participantId).toBe(first.participantId);
      expect((await peer.waitFor('participantJoined', (d) => d.participantId === second.participantId)).identity).toBe('doc');
      expect(long.handle.rooms.get('r9')?.participants.map((p) => [p.identity, p.id, p.state])).toEqual([
        ['kid', expect.any(String), 'admitted'], ['doc', second.participantId, 'admitted'],
      ]);
      b.close(); peer.close();
    } finally {
      await long.close();
    }
  });

  it('lets the resume token take over a still-open socket, which is closed', async () => {
    const token = srv.mint('r2', 'stud', 'student');
    const a = await RtcClient.connect(srv.wsUrl, { token });
    const first = await a.request('join', {});
    const a2 = await RtcClient.connect(srv.wsUrl, { token });
    expect((await a2.request('join', { resumeToken: first.resumeToken })).resumed).toBe(true);
    expect((await a.closeInfo).code).toBe(4000);
    a2.close();
  });

  it('removes a participant whose grace period ran out and tells the others', async () => {
    const a = await RtcClient.connect(srv.wsUrl, { token: srv.mint('r3', 'stud', 'student') });
    const info = await a.request('join', {});
    const b = await RtcClient.connect(srv.wsUrl, { token: srv.mint('r3', 'clin', 'clinician') });
    await b.request('join', {});
    a.ws.terminate();
    const left = await b.waitFor('participantLeft', () => true, 5000);
    expect(left).toEqual({ participantId: info.participantId, reason: 'DISCONNECTED' });
    const late = await RtcClient.connect(srv.wsUrl, { token: srv.mint('r3', 'stud', 'student') });
    expect((await late.raw('join', { resumeToken: info.resumeToken })).error.code).toBe('RESUME_TOKEN_INVALID');
    b.close(); late.close();
  });
});
