import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters, vp8Parameters } from '../helpers/ws-client.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

async function joined(room: string, identity: string, role: 'clinician' | 'student' | 'observer' | 'guardian', extra = {}) {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role, extra) });
  const info = await c.request('join', { displayName: `${role} ${identity}` });
  return { c, info };
}

describe('signalling with a real mediasoup worker', () => {
  it('join returns the router capabilities, the others and ICE servers; peers are told', async () => {
    const a = await joined('m1', 'clin', 'clinician');
    expect(a.info.routerRtpCapabilities.codecs.map((c: { mimeType: string }) => c.mimeType))
      .toEqual(expect.arrayContaining(['audio/opus', 'video/VP8', 'video/VP9', 'video/H264']));
    expect(a.info.participants).toEqual([]);
    expect(a.info.iceServers).toEqual([]);
    expect(a.info.role).toBe('clinician');
    const b = await joined('m1', 'stud', 'student');
    expect(b.info.participants).toHaveLength(1);
    expect(b.info.participants[0]).toMatchObject({ participantId: a.info.participantId, role: 'clinician' });
    expect(await a.c.waitFor('participantJoined')).toMatchObject({ participantId: b.info.participantId, role: 'student' });
    a.c.close(); b.c.close();
  });

  it('produces, creates paused consumers for subscribers, and follows pause/resume/close', async () => {
    const a = await joined('m2', 'clin', 'clinician');
    const b = await joined('m2', 'stud', 'student');
    const send = await a.c.request('createTransport', { direction: 'send' });
    expect(send.iceCandidates.length).toBeGreaterThanOrEqual(2);
    expect(new Set(send.iceCandidates.map((c: { protocol: string }) => c.protocol))).toEqual(new Set(['udp', 'tcp']));
    const mic = await a.c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
    const cam = await a.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(), source: 'camera' });

    // B subscribes: its recv transport brings consumers for A's existing producers.
    const recv = await b.c.request('createTransport', { direction: 'recv', rtpCapabilities: b.info.routerRtpCapabilities });
    const audio = await b.c.waitFor('newConsumer', (d) => d.producerId === mic.producerId);
    const video = await b.c.waitFor('newConsumer', (d) => d.producerId === cam.producerId);
    expect(audio).toMatchObject({ kind: 'audio', source: 'mic', participantId: a.info.participantId, producerPaused: false });
    expect(video).toMatchObject({ kind: 'video', source: 'camera' });
    expect(recv.transportId).toBeTruthy();
    await b.c.request('resumeConsumer', { consumerId: audio.consumerId });
    await b.c.request('pauseConsumer', { consumerId: audio.consumerId });
    await b.c.request('resumeConsumer', { consumerId: audio.consumerId });

    // A later producer reaches B at once.
    const screen = await a.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(33333333), source: 'screen' });
    await b.c.waitFor('newConsumer', (d) => d.producerId === screen.producerId);

    await a.c.request('pauseProducer', { producerId: cam.producerId });
    await b.c.waitFor('consumerPaused', (d) => d.consumerId === video.consumerId);
    await a.c.request('resumeProducer', { producerId: cam.producerId });
    await b.c.waitFor('consumerResumed', (d) => d.consumerId === video.consumerId);

    await a.c.request('closeProducer', { producerId: cam.producerId });
    await b.c.waitFor('consumerClosed', (d) => d.consumerId === video.consumerId);
    await b.c.waitFor('producerClosed', (d) => d.producerId === cam.producerId);

    const ice = await a.c.request('restartIce', { transportId: send.transportId });
    expect(ice.iceParameters.usernameFragment).toBeTruthy();

    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/sfu_producers\{kind="audio"\} 1/);
    expect(metrics).toMatch(/sfu_consumers\{kind="audio"\} 1/);
    expect(metrics).not.toContain('m2');

    await a.c.request('leave', {});
    expect((await a.c.closeInfo).code).toBe(1000);
    expect(await b.c.waitFor('participantLeft')).toMatchObject({ participantId: a.info.participantId, reason: 'LEFT' });
    await b.c.waitFor('consumerClosed', (d) => d.consumerId === audio.consumerId);
    b.c.close();
  });

  it('keeps observers subscribe-only and honours token publish permissions', async () => {
    const obs = await joined('m3', 'obs', 'observer');
    expect(obs.info.permissions).toEqual({ publish: [], subscribe: true });
    expect((await obs.c.raw('createTransport', { direction: 'send' })).error.code).toBe('PERMISSION_DENIED');
    const g = await joined('m3', 'gua', 'guardian', { publish: ['mic'] });
    const t = await g.c.request('createTransport', { direction: 'send' });
    const cam = await g.c.raw('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8Parameters(), source: 'camera' });
    expect(cam.error.code).toBe('PERMISSION_DENIED');
    const noSub = await joined('m3', 'ns', 'student', { subscribe: false });
    expect((await noSub.c.raw('createTransport', { direction: 'recv', rtpCapabilities: noSub.info.routerRtpCapabilities })).error.code).toBe('PERMISSION_DENIED');
    obs.c.close(); g.c.close(); noSub.c.close();
  });

  it('answers every bad request with its code', async () => {
    const a = await joined('m4', 'clin', 'clinician');
    const send = await a.c.request('createTransport', { direction: 'send' });
    const cases: [string, unknown, string][] = [
      ['join', {}, 'ALREADY_JOINED'],
      ['createTransport', { direction: 'send' }, 'TRANSPORT_LIMIT'],
      ['createTransport', { direction: 'sideways' }, 'INVALID_REQUEST'],
      ['createTransport', { direction: 'recv' }, 'INVALID_REQUEST'],
      ['connectTransport', { transportId: 'nope', dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA' }] } }, 'TRANSPORT_NOT_FOUND'],
      ['connectTransport', { transportId: send.transportId }, 'INVALID_REQUEST'],
      ['produce', { transportId: send.transportId, kind: 'audio', rtpParameters: vp8Parameters(), source: 'camera' }, 'INVALID_REQUEST'],
      ['produce', { transportId: send.transportId, kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/nope' }] }, source: 'mic' }, 'INVALID_REQUEST'],
      ['produce', { transportId: 'nope', kind: 'audio', rtpParameters: opusParameters(), source: 'mic' }, 'TRANSPORT_NOT_FOUND'],
      ['closeProducer', { producerId: 'nope' }, 'PRODUCER_NOT_FOUND'],
      ['pauseProducer', {}, 'INVALID_REQUEST'],
      ['resumeConsumer', { consumerId: 'nope' }, 'CONSUMER_NOT_FOUND'],
      ['restartIce', { transportId: 'nope' }, 'TRANSPORT_NOT_FOUND'],
      ['frobnicate', {}, 'UNKNOWN_METHOD'],
    ];
    for (const [method, data, code] of cases) {
      const res = await a.c.raw(method, data);
      expect({ method, code: res.ok ? 'ok' : res.error.code }).toEqual({ method, code });
    }
    await a.c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
    expect((await a.c.raw('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(4444), source: 'mic' })).error.code).toBe('PRODUCER_LIMIT');
    // A client that lost its state closes the old transport and builds a new one.
    await a.c.request('closeTransport', { transportId: send.transportId });
    expect((await a.c.raw('closeTransport', { transportId: send.transportId })).error.code).toBe('TRANSPORT_NOT_FOUND');
    const again = await a.c.request('createTransport', { direction: 'send' });
    await a.c.request('produce', { transportId: again.transportId, kind: 'audio', rtpParameters: opusParameters(5555), source: 'mic' });
    a.c.close();
  });

  it('refuses everything but join before join', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('m5', 'x', 'student') });
    for (const method of ['createTransport', 'leave', 'produce']) {
      const res = await c.raw(method, method === 'createTransport' ? { direction: 'send' } : method === 'leave' ? {} : undefined);
      expect(res.ok).toBe(false);
      expect(['NOT_JOINED', 'INVALID_REQUEST']).toContain(res.error.code);
    }
    expect((await c.raw('createTransport', { direction: 'send' })).error.code).toBe('NOT_JOINED');
    c.close();
  });

  it('survives malformed, oversized and unknown messages', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('m6', 'x', 'student') });
    expect((await c.sendText('{not json')).error.code).toBe('MALFORMED_MESSAGE');
    expect((await c.sendText(JSON.stringify({ method: 'join' }))).error.code).toBe('INVALID_REQUEST');
    expect((await c.sendText(JSON.stringify([1, 2, 3]))).error.code).toBe('INVALID_REQUEST');
    expect((await c.sendText(Buffer.from([1, 2, 3]))).error.code).toBe('MALFORMED_MESSAGE');
    const big = JSON.stringify({ id: 9, method: 'join', data: { displayName: 'x'.repeat(70_000) } });
    expect((await c.sendText(big)).error.code).toBe('MESSAGE_TOO_LARGE');
    expect((await c.raw('join', { displayName: 'x'.repeat(65) })).error.code).toBe('INVALID_REQUEST');
    expect((await c.raw('join', 'a string')).error.code).toBe('INVALID_REQUEST');
    // Still serving.
    expect((await c.request('join', {})).roomId).toBe('m6');
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    c.close();
  });
});
