/**
 * Real media shapes for tests, without a browser or a worker: the router's RTP capabilities as
 * mediasoup computes them from src/media/codecs.ts, and what mediasoup-client 3.24 sends (a real
 * Device with the FakeHandler its own tests use), plus Chrome's simulcast shape (rid-only encodings).
 */
import type { types } from 'mediasoup';
import * as ortc from 'mediasoup/ortc';
import { Device, FakeHandler, testFakeParameters, type types as clientTypes } from 'mediasoup-client';
import { FakeMediaStreamTrack } from 'fake-mediastreamtrack';
import { MEDIA_CODECS } from '../../src/media/codecs.ts';

/** The router's capabilities: what `worker.createRouter({ mediaCodecs: MEDIA_CODECS })` gives. */
export function routerCapabilities(): types.RtpCapabilities {
  return ortc.generateRouterRtpCapabilities(structuredClone(MEDIA_CODECS));
}

export interface ClientShapes {
  /** device.recvRtpCapabilities: what the browser client sends with createTransport(recv). */
  readonly recvRtpCapabilities: types.RtpCapabilities;
  /** rtpParameters of the transport's `produce` event, by name. */
  readonly produced: Record<'opus' | 'vp8Simulcast' | 'vp9Svc' | 'vp8', types.RtpParameters>;
}

/** What a mediasoup-client Device loaded with `routerCaps` sends, as the src/client code asks for it. */
export async function mediasoupClientShapes(routerCaps: types.RtpCapabilities): Promise<ClientShapes> {
  const device = new Device({ handlerFactory: FakeHandler.createFactory(testFakeParameters) });
  await device.load({ routerRtpCapabilities: structuredClone(routerCaps) as clientTypes.RtpCapabilities });
  const transport = device.createSendTransport(testFakeParameters.generateTransportRemoteParameters());
  let captured: unknown;
  transport.on('connect', (_p, callback) => callback());
  transport.on('produce', (p, callback) => {
    captured = p.rtpParameters;
    callback({ id: `fake-${Math.random()}` });
  });
  // (The FakeHandler's "browser" has no H264: see CHROME_H264 for that.)
  const codec = (mime: string) => {
    const found = device.sendRtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === mime);
    if (!found) throw new Error(`the fake device cannot send ${mime}`);
    return found;
  };
  const capture = async (kind: 'audio' | 'video', options: Partial<clientTypes.ProducerOptions>): Promise<types.RtpParameters> => {
    const track = new FakeMediaStreamTrack({ kind }) as unknown as clientTypes.ProducerOptions['track'];
    const producer = await transport.produce({ track, ...options });
    producer.close();
    return JSON.parse(JSON.stringify(captured)) as types.RtpParameters;
  };
  const produced = {
    opus: await capture('audio', { codecOptions: { opusDtx: true, opusFec: true } }),
    vp8Simulcast: await capture('video', {
      codec: codec('video/vp8'),
      encodings: [
        { scaleResolutionDownBy: 4, maxBitrate: 150_000 },
        { scaleResolutionDownBy: 2, maxBitrate: 500_000 },
        { scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
      ].map((e, i) => ({ ...e, rid: `r${i}`, scalabilityMode: 'L1T3' })),
    }),
    vp9Svc: await capture('video', { codec: codec('video/vp9'), encodings: [{ scalabilityMode: 'L3T3_KEY', maxBitrate: 1_500_000 }] }),
    vp8: await capture('video', { codec: codec('video/vp8') }),
  };
  transport.close();
  return { recvRtpCapabilities: JSON.parse(JSON.stringify(device.recvRtpCapabilities)) as types.RtpCapabilities, produced };
}

/**
 * Chrome's VP8 simulcast camera through mediasoup-client's Chrome111 handler: encodings are passed
 * verbatim, so they carry rids and no ssrc; Chrome's own payload types and extension ids. The
 * browser's scaleResolutionDownBy rides along (mediasoup 3.27's RtpEncodingParameters no longer names it).
 */
export const CHROME_VP8_SIMULCAST: Omit<types.RtpParameters, 'encodings'> & { msid: string; encodings: (types.RtpEncodingParameters & { scaleResolutionDownBy?: number })[] } = {
  mid: '1',
  msid: 'f5b2c1d0-stream 9a8b7c6d-track',
  codecs: [
    { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [{ type: 'goog-remb', parameter: '' }, { type: 'transport-cc', parameter: '' }, { type: 'ccm', parameter: 'fir' }, { type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }] },
    { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 }, rtcpFeedback: [] },
  ],
  headerExtensions: [
    { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4, encrypt: false, parameters: {} },
    { uri: 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', id: 10, encrypt: false, parameters: {} },
    { uri: 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id', id: 11, encrypt: false, parameters: {} },
    { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3, encrypt: false, parameters: {} },
  ],
  encodings: [
    { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: 'L1T3' },
    { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: 'L1T3' },
    { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_200_000, scalabilityMode: 'L1T3' },
  ],
  rtcp: { cname: 'Jx3ePbGz0Qy8hB1y', reducedSize: true },
};

/** Chrome's microphone through Chrome111: one encoding with the SDP's ssrc; opus at Chrome's payload type. */
export const CHROME_OPUS: types.RtpParameters & { msid: string } = {
  mid: '0',
  msid: 'f5b2c1d0-stream 3c4d5e6f-track',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: { minptime: 10, useinbandfec: 1, usedtx: 1 }, rtcpFeedback: [{ type: 'transport-cc', parameter: '' }] }],
  headerExtensions: [
    { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4, encrypt: false, parameters: {} },
    { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2, encrypt: false, parameters: {} },
    { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1, encrypt: false, parameters: {} },
  ],
  encodings: [{ ssrc: 2904417350, dtx: true }],
  rtcp: { cname: 'Jx3ePbGz0Qy8hB1y', reducedSize: true },
};

/** Chrome's H264 screen share through Chrome111: one encoding with RTX, Chrome's payload types. */
export const CHROME_H264: types.RtpParameters = {
  mid: '2',
  codecs: [
    {
      mimeType: 'video/H264', payloadType: 102, clockRate: 90000,
      parameters: { 'level-asymmetry-allowed': 1, 'packetization-mode': 1, 'profile-level-id': '42e01f' },
      rtcpFeedback: [{ type: 'goog-remb', parameter: '' }, { type: 'transport-cc', parameter: '' }, { type: 'ccm', parameter: 'fir' }, { type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }],
    },
    { mimeType: 'video/rtx', payloadType: 103, clockRate: 90000, parameters: { apt: 102 }, rtcpFeedback: [] },
  ],
  headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4, encrypt: false, parameters: {} }],
  encodings: [{ ssrc: 1788924633, rtx: { ssrc: 2217466398 } }],
  rtcp: { cname: 'Jx3ePbGz0Qy8hB1y', reducedSize: true },
};
