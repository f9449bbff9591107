import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types } from 'mediasoup';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters } from '../helpers/ws-client.ts';
import { CHROME_H264, CHROME_VP8_SIMULCAST, mediasoupClientShapes, type ClientShapes } from '../helpers/media-shapes.ts';

let srv: TestServer;
let client: ClientShapes;
beforeAll(async () => {
  srv = await startServer();
  // What mediasoup-client sends, with the capabilities a real room's router gives in `join`.
  const probe = await joined('probe', 'probe', 'observer');
  client = await mediasoupClientShapes(probe.info.routerRtpCapabilities);
  await probe.c.request('leave', {});
});
afterAll(async () => { await srv.close(); });

async function joined(room: string, identity: string, role: 'clinician' | 'student' | 'observer') {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  const info = await c.request('join', {});
  return { c, info };
}

/** The coded error of a refused request. */
async function refused(c: RtcClient, method: string, data: unknown): Promise<{ code: string; message: string }> {
  const res = await c.raw(method, data);
  expect(res.ok, JSON.stringify(res)).toBe(false);
  return res.error;
}

describe('createTransport refuses RTP capabilities that cannot receive the room', () => {
  it('answers {} and SDP-style capabilities with INVALID_REQUEST naming the field, and the transport slot stays free', async () => {
    const { c, info } = await joined('mp1', 'kid', 'student');
    const recv = (rtpCapabilities: unknown) => refused(c, 'createTransport', { direction: 'recv', rtpCapabilities });
    expect(await recv({})).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs: /) });
    // An SDP blob, rtpmap-style entries, RTP-parameters-style entries, the W3C getCapabilities() shape.
    expect(await recv({ sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n' }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs: /) });
    expect(await recv({ codecs: [{ payload: 111, codec: 'opus', rate: 48000, encoding: 2 }] }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs\.0\./) });
    expect(await recv({ codecs: [{ kind: 'audio', mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }] }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs\.0\.preferredPayloadType: /) });
    expect(await recv({ codecs: [{ mimeType: 'audio/opus', clockRate: 48000, channels: 2, sdpFmtpLine: 'minptime=10' }] }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs\.0\.kind: /) });
    // Well-formed but audio only: it could never receive the room's video.
    const audioOnly = { codecs: client.recvRtpCapabilities.codecs!.filter((k) => k.kind === 'audio') };
    expect(await recv(audioOnly)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpCapabilities\.codecs: receives none of this room's video codecs/) });
    // None of that took the recv slot; the router's own capabilities still work.
    expect((await c.request('createTransport', { direction: 'recv', rtpCapabilities: info.routerRtpCapabilities })).transportId).toBeTruthy();
    c.close();
  });
});

describe('produce refuses RTP parameters mediasoup would refuse or the policy forbids', () => {
  it('answers a producer without encodings, with too many, or with a codec the room lacks, and the source stays free', async () => {
    const { c } = await joined('mp2', 'doc', 'clinician');
    const send = await c.request('createTransport', { direction: 'send' });
    const produce = (kind: string, source: string, rtpParameters: unknown) => refused(c, 'produce', { transportId: send.transportId, kind, source, rtpParameters });
    const { encodings: _e, ...noEncodings } = client.produced.opus;
    expect(await produce('audio', 'mic', noEncodings)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpParameters\.encodings: /) });
    expect(await produce('audio', 'mic', { ...client.produced.opus, encodings: [{ dtx: false }] }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: 'rtpParameters.encodings.0: needs ssrc (an integer) or rid (a string)' });
    expect(await produce('audio', 'mic', { ...client.produced.opus, encodings: [{ ssrc: 1 }, { ssrc: 2 }] }))
      .toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpParameters\.encodings: at most 1 for mic/) });
    const four = { ...CHROME_VP8_SIMULCAST, encodings: [0, 1, 2, 3].map((i) => ({ rid: `r${i}` })) };
    expect(await produce('video', 'camera', four)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpParameters\.encodings: at most 3 for camera/) });
    // mediasoup would have failed this one with a 500 (MEDIA_ERROR): the router has no AV1.
    const av1 = { ...client.produced.vp8, codecs: [{ mimeType: 'video/AV1', payloadType: 45, clockRate: 90000 }] };
    expect(await produce('video', 'camera', av1)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^rtpParameters\.codecs\.0\.mimeType: video\/AV1 at 90000 is not a codec of this room/) });
    // Nothing was produced: the sources are still free.
    expect((await c.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: client.produced.opus })).producerId).toBeTruthy();
    expect((await c.request('produce', { transportId: send.transportId, kind: 'video', source: 'camera', rtpParameters: CHROME_VP8_SIMULCAST })).producerId).toBeTruthy();
    c.close();
  });
});

describe('what mediasoup-client sends still works end to end', () => {
  it('publishes opus, VP8 simulcast and Chrome\'s H264, and a recv transport with device.recvRtpCapabilities gets consumers for them', async () => {
    const pub = await joined('mp3', 'doc', 'clinician');
    const sub = await joined('mp3', 'kid', 'student');
    const send = await pub.c.request('createTransport', { direction: 'send' });
    const produced = new Map<string, string>();
    for (const [kind, source, rtpParameters] of [
      ['audio', 'mic', client.produced.opus],
      ['video', 'camera', client.produced.vp8Simulcast],
      ['video', 'screen', CHROME_H264],
    ] as const) {
      const { producerId } = await pub.c.request('produce', { transportId: send.transportId, kind, source, rtpParameters });
      produced.set(source, producerId);
    }
    await sub.c.request('createTransport', { direction: 'recv', rtpCapabilities: client.recvRtpCapabilities });
    // The fake device receives opus and VP8 (it has no H264, so the screen is not offered to it).
    const [mic, camera] = await Promise.all(['mic', 'camera'].map((s) => sub.c.waitFor('newConsumer', (d) => d.producerId === produced.get(s))));
    expect(mic.rtpParameters.codecs[0].mimeType).toBe('audio/opus');
    expect(camera.rtpParameters.codecs[0].mimeType).toBe('video/VP8');
    expect(camera.rtpParameters.encodings[0].scalabilityMode).toBe('L3T3');
    // A subscriber that has H264 receives Chrome's screen.
    const obs = await joined('mp3', 'obs', 'observer');
    await obs.c.request('createTransport', { direction: 'recv', rtpCapabilities: obs.info.routerRtpCapabilities });
    const screen = await obs.c.waitFor('newConsumer', (d) => d.producerId === produced.get('screen'));
    expect((screen.rtpParameters as types.RtpParameters).codecs[0]!.mimeType).toBe('video/H264');
    // The older helpers' shapes still produce too.
    const again = await sub.c.request('createTransport', { direction: 'send' });
    expect((await sub.c.request('produce', { transportId: again.transportId, kind: 'audio', source: 'mic', rtpParameters: opusParameters(777) })).producerId).toBeTruthy();
    pub.c.close(); sub.c.close(); obs.c.close();
  });
});

describe('what docs/protocol.md tells integrators without mediasoup-client', () => {
  it('transports are ICE-lite with passive TCP candidates; the client takes the DTLS client role, once', async () => {
    const { c, info } = await joined('mp4', 'doc', 'clinician');
    const t = await c.request('createTransport', { direction: 'send' });
    expect(t.iceParameters).toMatchObject({ iceLite: true, usernameFragment: expect.any(String), password: expect.any(String) });
    expect(t.dtlsParameters.role).toBe('auto');
    expect(t.dtlsParameters.fingerprints.map((f: { algorithm: string }) => f.algorithm)).toContain('sha-256');
    expect(t.iceCandidates.filter((k: { protocol: string }) => k.protocol === 'tcp').map((k: { tcpType: string }) => k.tcpType)).toEqual(['passive']);
    expect(t.iceCandidates.every((k: { type: string }) => k.type === 'host')).toBe(true);
    const dtlsParameters = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: Array.from({ length: 32 }, () => 'AB').join(':') }] };
    await c.request('connectTransport', { transportId: t.transportId, dtlsParameters });
    const server = srv.handle.rooms.get('mp4')!.participant(info.participantId)!.transport(t.transportId);
    expect(server.dtlsParameters.role).toBe('server');
    // A second connect is the client's mistake (400), not a media failure to page the operator about (500).
    const again = await refused(c, 'connectTransport', { transportId: t.transportId, dtlsParameters });
    expect(again.code).toBe('INVALID_REQUEST');
    expect(again.message).toContain('already connected');
    c.close();
  });

  it('a consumer\'s rtpParameters carry what an SDP m-section needs: mid, router payload types, one ssrc with RTX, cname', async () => {
    const pub = await joined('mp5', 'doc', 'clinician');
    const sub = await joined('mp5', 'kid', 'student');
    const send = await pub.c.request('createTransport', { direction: 'send' });
    const cam = await pub.c.request('produce', { transportId: send.transportId, kind: 'video', source: 'camera', rtpParameters: CHROME_VP8_SIMULCAST });
    const mic = await pub.c.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: client.produced.opus });
    await sub.c.request('createTransport', { direction: 'recv', rtpCapabilities: client.recvRtpCapabilities });
    const video = (await sub.c.waitFor('newConsumer', (d) => d.producerId === cam.producerId)).rtpParameters;
    const audio = (await sub.c.waitFor('newConsumer', (d) => d.producerId === mic.producerId)).rtpParameters;
    const router = sub.info.routerRtpCapabilities as types.RtpCapabilities;
    const routerPt = (mime: string) => router.codecs!.find((k) => k.mimeType === mime)!.preferredPayloadType;
    expect(new Set([video.mid, audio.mid]).size).toBe(2);
    expect(video.codecs.map((k: types.RtpCodecParameters) => [k.mimeType, k.payloadType])).toEqual([['video/VP8', routerPt('video/VP8')], ['video/rtx', routerPt('video/rtx')]]);
    expect(video.encodings).toHaveLength(1);
    expect(video.encodings[0].rtx.ssrc).toEqual(expect.any(Number));
    expect(video.rtcp.cname).toBe(CHROME_VP8_SIMULCAST.rtcp!.cname);
    expect(audio.codecs.map((k: types.RtpCodecParameters) => k.mimeType)).toEqual(['audio/opus']);
    expect(audio.encodings[0].rtx).toBeUndefined();
    // Header extension ids are the router's (the capabilities' preferredId values).
    for (const ext of video.headerExtensions as types.RtpHeaderExtensionParameters[]) {
      expect(router.headerExtensions!.find((h) => h.kind === 'video' && h.uri === ext.uri)!.preferredId).toBe(ext.id);
    }
    pub.c.close(); sub.c.close();
  });
});
