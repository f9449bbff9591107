import { beforeAll, describe, expect, it } from 'vitest';
import type { types } from 'mediasoup';
import * as ortc from 'mediasoup/ortc';
import { PUBLISHING_POLICY, checkRtpCapabilities, checkRtpParameters } from '../../src/media/rtp-checks.ts';
import { SfuError } from '../../src/shared/errors.ts';
import { CHROME_H264, CHROME_OPUS, CHROME_VP8_SIMULCAST, mediasoupClientShapes, routerCapabilities, type ClientShapes } from '../helpers/media-shapes.ts';
import { opusParameters, vp8Parameters } from '../helpers/ws-client.ts';

const router = routerCapabilities();
let client: ClientShapes;
beforeAll(async () => { client = await mediasoupClientShapes(router); });

/** The SfuError a check throws (fails the test when it does not throw one). */
function refusal(fn: () => void): SfuError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SfuError);
    expect((err as SfuError).code).toBe('INVALID_REQUEST');
    return err as SfuError;
  }
  throw new Error('expected a refusal');
}

const caps = (c: unknown) => () => checkRtpCapabilities(c, router);
const params = (kind: 'audio' | 'video', source: string, p: unknown, policy = PUBLISHING_POLICY) => () => checkRtpParameters(kind, source, p, router, policy);

/** What mediasoup's own producer code (JS side) makes of the parameters: its consumable parameters. */
function mediasoupConsumable(kind: types.MediaKind, p: types.RtpParameters): types.RtpParameters {
  const copy = structuredClone(p);
  ortc.validateAndNormalizeRtpParameters(copy);
  return ortc.getConsumableRtpParameters(kind, copy, router, ortc.getProducerRtpParametersMapping(copy, router));
}

/** mediasoup's consumable parameters carry the producer's first (media) codec. */
const sameCodec = (consumable: types.RtpParameters, p: types.RtpParameters) =>
  consumable.codecs[0]!.mimeType.toLowerCase() === p.codecs[0]!.mimeType.toLowerCase() && consumable.codecs[0]!.clockRate === p.codecs[0]!.clockRate;

describe('checkRtpCapabilities', () => {
  it('accepts the router\'s own capabilities and mediasoup-client\'s recvRtpCapabilities, without modifying them', () => {
    for (const c of [router, client.recvRtpCapabilities]) {
      const before = structuredClone(c);
      expect(caps(c)).not.toThrow();
      expect(c).toEqual(before);
    }
    // ... and mediasoup agrees they receive what mediasoup-client publishes.
    for (const [kind, p] of [['audio', client.produced.opus], ['video', client.produced.vp8Simulcast]] as const) {
      expect(ortc.canConsume(mediasoupConsumable(kind, p), structuredClone(client.recvRtpCapabilities))).toBe(true);
    }
  });

  it('refuses capabilities with no codecs, naming the field', () => {
    expect(refusal(caps({})).message).toMatch(/^rtpCapabilities\.codecs: required/);
    expect(refusal(caps({ codecs: [] })).message).toMatch(/^rtpCapabilities\.codecs: must be a non-empty array/);
    expect(refusal(caps('v=0')).message).toMatch(/^rtpCapabilities: must be an object/);
    expect(refusal(caps(null)).message).toMatch(/^rtpCapabilities: must be an object/);
  });

  it('refuses SDP-style capabilities', () => {
    // An SDP blob, or sdp-transform's parse of a media section.
    expect(refusal(caps({ sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n' })).message)
      .toMatch(/^rtpCapabilities\.codecs: required.*SDP/);
    expect(refusal(caps({ rtp: [{ payload: 111, codec: 'opus', rate: 48000, encoding: 2 }], fmtp: [] })).message).toMatch(/SDP/);
    // rtpmap-style entries inside codecs.
    expect(refusal(caps({ codecs: [{ payload: 111, codec: 'opus', rate: 48000, encoding: 2 }] })).message).toMatch(/^rtpCapabilities\.codecs\.0\.mimeType: required/);
    // RTP-parameters-style codecs (payloadType instead of preferredPayloadType).
    const asParams = { codecs: [{ kind: 'audio', mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }] };
    expect(refusal(caps(asParams)).message).toMatch(/^rtpCapabilities\.codecs\.0\.preferredPayloadType: .*payloadType/);
    // The W3C RTCRtpReceiver.getCapabilities() shape: no kind, no payload types, extensions without ids.
    const w3c = { codecs: [{ mimeType: 'audio/opus', clockRate: 48000, channels: 2, sdpFmtpLine: 'minptime=10' }], headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }] };
    expect(refusal(caps(w3c)).message).toMatch(/^rtpCapabilities\.codecs\.0\.kind: required: "audio"/);
  });

  it('checks each codec and header extension the way mediasoup reads them', () => {
    const opus = { kind: 'audio', mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000, channels: 2 };
    const vp8 = { kind: 'video', mimeType: 'video/VP8', preferredPayloadType: 101, clockRate: 90000 };
    expect(caps({ codecs: [opus, vp8] })).not.toThrow();
    const cases: [unknown, RegExp][] = [
      [{ codecs: [{ ...opus, kind: 'video' }, vp8] }, /^rtpCapabilities\.codecs\.0\.kind: must be "audio"/],
      [{ codecs: [opus, { ...vp8, mimeType: 'VP8' }] }, /^rtpCapabilities\.codecs\.1\.mimeType: must be "audio\/<codec>" or "video\/<codec>"/],
      [{ codecs: [opus, { ...vp8, clockRate: '90000' }] }, /^rtpCapabilities\.codecs\.1\.clockRate: must be an integer/],
      [{ codecs: [opus, { ...vp8, clockRate: undefined }] }, /^rtpCapabilities\.codecs\.1\.clockRate: required/],
      [{ codecs: [{ ...opus, preferredPayloadType: 128 }, vp8] }, /^rtpCapabilities\.codecs\.0\.preferredPayloadType: must be an integer 0-127/],
      [{ codecs: [opus, { ...vp8, parameters: { x: null } }] }, /^rtpCapabilities\.codecs\.1\.parameters\.x: must be a string or a number/],
      [{ codecs: [opus, { ...vp8, rtcpFeedback: [{ parameter: 'pli' }] }] }, /^rtpCapabilities\.codecs\.1\.rtcpFeedback\.0\.type: required/],
      [{ codecs: [opus, vp8], headerExtensions: [{ kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }] }, /^rtpCapabilities\.headerExtensions\.0\.preferredId: required/],
      [{ codecs: [opus, vp8], headerExtensions: {} }, /^rtpCapabilities\.headerExtensions: must be an array/],
    ];
    for (const [c, message] of cases) expect(refusal(caps(c)).message).toMatch(message);
  });

  it('refuses capabilities that cannot receive the room\'s audio or its video', () => {
    const opus = client.recvRtpCapabilities.codecs!.filter((c) => c.kind === 'audio');
    const video = client.recvRtpCapabilities.codecs!.filter((c) => c.kind === 'video');
    expect(refusal(caps({ codecs: opus })).message).toMatch(/^rtpCapabilities\.codecs: receives none of this room's video codecs \(video\/VP8 90000, video\/VP9 90000, video\/H264 90000\)/);
    expect(refusal(caps({ codecs: video })).message).toMatch(/^rtpCapabilities\.codecs: receives none of this room's audio codecs \(audio\/opus 48000\/2\)/);
    // Opus without a channel count is mono to mediasoup, which the room does not send.
    const mono = opus.map(({ channels: _c, ...c }) => c);
    expect(refusal(caps({ codecs: [...mono, ...video] })).message).toMatch(/audio codecs/);
    // Only H264 (any profile) is enough video: the profile is mediasoup's concern.
    const h264 = { kind: 'video', mimeType: 'video/H264', preferredPayloadType: 107, clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '640032' } };
    expect(caps({ codecs: [...opus, h264] })).not.toThrow();
  });
});

describe('checkRtpParameters', () => {
  it('accepts what mediasoup-client, Chrome, the test helpers and the benches send, without modifying it; mediasoup agrees', () => {
    const accepted: [types.MediaKind, string, types.RtpParameters][] = [
      ['audio', 'mic', client.produced.opus],
      ['video', 'camera', client.produced.vp8Simulcast],
      ['video', 'camera', client.produced.vp9Svc],
      ['video', 'screen', client.produced.vp8],
      ['video', 'screen', CHROME_H264],
      ['audio', 'mic', CHROME_OPUS],
      ['video', 'camera', CHROME_VP8_SIMULCAST],
      ['audio', 'mic', opusParameters() as types.RtpParameters],
      ['video', 'camera', vp8Parameters() as types.RtpParameters],
    ];
    expect(client.produced.vp8Simulcast.encodings).toHaveLength(3);
    expect(client.produced.vp9Svc.encodings![0]!.scalabilityMode).toBe('L3T3_KEY');
    for (const [kind, source, p] of accepted) {
      const before = structuredClone(p);
      expect(params(kind, source, p), `${source} ${p.codecs[0]!.mimeType}`).not.toThrow();
      expect(p).toEqual(before);
      // mediasoup takes it too, as the same media codec.
      expect(sameCodec(mediasoupConsumable(kind, p), p), `${source} ${p.codecs[0]!.mimeType}`).toBe(true);
    }
  });

  it('requires encodings, each with an ssrc or a rid', () => {
    const { encodings: _e, ...noEncodings } = CHROME_OPUS;
    expect(refusal(params('audio', 'mic', noEncodings)).message).toMatch(/^rtpParameters\.encodings: required/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: [] })).message).toMatch(/^rtpParameters\.encodings: must be a non-empty array/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: [{ dtx: true }] })).message).toMatch(/^rtpParameters\.encodings\.0: needs ssrc \(an integer\) or rid \(a string\)/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: [{ ssrc: '123' }] })).message).toMatch(/^rtpParameters\.encodings\.0\.ssrc: must be an integer/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: [{ ssrc: 0 }] })).message).toMatch(/^rtpParameters\.encodings\.0\.ssrc/);
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: [{ rid: 'r0' }, { rid: 'r0' }] })).message).toMatch(/^rtpParameters\.encodings\.1\.rid: r0 is used by another encoding/);
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: [{ rid: 'has space' }] })).message).toMatch(/^rtpParameters\.encodings\.0\.rid/);
    // rid-only streams are recognised by the rtp-stream-id header extension.
    const noRidExtension = CHROME_VP8_SIMULCAST.headerExtensions!.filter((e) => !e.uri.endsWith(':rtp-stream-id'));
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, headerExtensions: noRidExtension })).message)
      .toMatch(/^rtpParameters\.headerExtensions: encodings with a rid and no ssrc need the urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id extension/);
    expect(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, headerExtensions: noRidExtension, encodings: [{ rid: 'r0', ssrc: 1 }, { rid: 'r1', ssrc: 2 }] })).not.toThrow();
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: [{ ssrc: 5, rtx: { ssrc: 5 } }] })).message).toMatch(/^rtpParameters\.encodings\.0\.rtx\.ssrc: 5 is used by another stream/);
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: [{ ssrc: 5, rtx: {} }] })).message).toMatch(/^rtpParameters\.encodings\.0\.rtx\.ssrc/);
  });

  it('enforces the publishing policy: one audio stream, at most three simulcast streams, simulcast only with VP8 or H264', () => {
    const two = [{ ssrc: 1 }, { ssrc: 2 }];
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: two })).message).toMatch(/^rtpParameters\.encodings: at most 1 for mic \(got 2\)/);
    const four = [0, 1, 2, 3].map((i) => ({ rid: `r${i}` }));
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: four })).message).toMatch(/^rtpParameters\.encodings: at most 3 for camera \(got 4\)/);
    expect(refusal(params('video', 'screen', CHROME_VP8_SIMULCAST, { maxEncodings: { screen: 1 } })).message).toMatch(/at most 1 for screen/);
    const vp9Simulcast = { ...client.produced.vp9Svc, encodings: [{ ssrc: 1 }, { ssrc: 2 }, { ssrc: 3 }] };
    expect(refusal(params('video', 'camera', vp9Simulcast)).message).toMatch(/^rtpParameters\.encodings: simulcast \(3 encodings\) needs VP8 or H264, not video\/VP9/);
    const layered = { ...CHROME_VP8_SIMULCAST, encodings: [{ rid: 'a', scalabilityMode: 'L2T3' }, { rid: 'b' }] };
    expect(refusal(params('video', 'camera', layered)).message).toMatch(/^rtpParameters\.encodings\.0\.scalabilityMode: a simulcast encoding carries one spatial layer/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, encodings: [{ ssrc: 1, scalabilityMode: 'L1T3' }] })).message).toMatch(/audio has a single layer/);
    expect(refusal(params('video', 'camera', { ...CHROME_VP8_SIMULCAST, encodings: [{ ssrc: 1, scalabilityMode: 'fast' }] })).message).toMatch(/^rtpParameters\.encodings\.0\.scalabilityMode: must be like L1T3/);
  });

  it('takes only codecs of the producer\'s kind that the room has', () => {
    const opus = CHROME_OPUS.codecs[0]!;
    const cases: [types.MediaKind, unknown, RegExp][] = [
      ['audio', { ...CHROME_OPUS, codecs: [] }, /^rtpParameters\.codecs: must be a non-empty array/],
      ['audio', { ...CHROME_OPUS, codecs: undefined }, /^rtpParameters\.codecs: required/],
      ['audio', CHROME_VP8_SIMULCAST, /^rtpParameters\.codecs\.0\.mimeType: video\/VP8 is not audio/],
      ['video', { ...CHROME_VP8_SIMULCAST, codecs: [{ mimeType: 'video/AV1', payloadType: 45, clockRate: 90000 }] }, /^rtpParameters\.codecs\.0\.mimeType: video\/AV1 at 90000 is not a codec of this room \(video\/VP8 90000, video\/VP9 90000, video\/H264 90000\)/],
      ['audio', { ...CHROME_OPUS, codecs: [{ ...opus, channels: undefined }] }, /^rtpParameters\.codecs\.0\.mimeType: audio\/opus at 48000\/1 is not a codec of this room \(audio\/opus 48000\/2\)/],
      ['audio', { ...CHROME_OPUS, codecs: [{ ...opus, payloadType: 300 }] }, /^rtpParameters\.codecs\.0\.payloadType: must be an integer 0-127/],
      ['audio', { ...CHROME_OPUS, codecs: [{ ...opus, payloadType: undefined }] }, /^rtpParameters\.codecs\.0\.payloadType: required/],
      ['audio', { ...CHROME_OPUS, codecs: [opus, { ...opus }] }, /^rtpParameters\.codecs\.1\.payloadType: 111 is used by another codec/],
      ['audio', { ...CHROME_OPUS, codecs: [opus, { mimeType: 'audio/rtx', payloadType: 112, clockRate: 48000, parameters: { apt: 111 } }] }, /^rtpParameters\.codecs\.1: this room has no RTX for audio\/opus/],
      ['video', { ...CHROME_VP8_SIMULCAST, codecs: [CHROME_VP8_SIMULCAST.codecs[0], { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000 }] }, /^rtpParameters\.codecs\.1\.parameters\.apt: required/],
      ['video', { ...CHROME_VP8_SIMULCAST, codecs: [CHROME_VP8_SIMULCAST.codecs[1]] }, /^rtpParameters\.codecs: needs a media codec, not only RTX/],
      ['video', { ...client.produced.vp9Svc, codecs: [{ ...client.produced.vp9Svc.codecs[0], parameters: { 'profile-id': 2 } }] }, /^rtpParameters\.codecs\.0\.parameters\.profile-id: this room takes VP9 profile-id 0/],
      ['video', { ...CHROME_VP8_SIMULCAST, encodings: [{ rid: 'r0', codecPayloadType: 97 }] }, /^rtpParameters\.encodings\.0\.codecPayloadType: must be the payloadType of a media codec/],
    ];
    for (const [kind, p, message] of cases) expect(refusal(params(kind, kind === 'audio' ? 'mic' : 'camera', p)).message).toMatch(message);
  });

  it('checks mid, rtcp and header extensions; rtcp.cname is optional', () => {
    const { rtcp: _r, mid: _m, headerExtensions: _h, ...bare } = CHROME_OPUS;
    expect(params('audio', 'mic', bare)).not.toThrow();
    expect(params('audio', 'mic', { ...CHROME_OPUS, rtcp: { reducedSize: true } })).not.toThrow();
    expect(sameCodec(mediasoupConsumable('audio', bare as types.RtpParameters), bare as types.RtpParameters)).toBe(true);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, mid: '' })).message).toMatch(/^rtpParameters\.mid: must be a non-empty string/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, mid: 1 })).message).toMatch(/^rtpParameters\.mid/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, rtcp: { cname: 7 } })).message).toMatch(/^rtpParameters\.rtcp\.cname/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, rtcp: 'x' })).message).toMatch(/^rtpParameters\.rtcp: must be an object/);
    expect(refusal(params('audio', 'mic', { ...CHROME_OPUS, headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 0 }] })).message).toMatch(/^rtpParameters\.headerExtensions\.0\.id: required: an integer 1-255/);
    expect(refusal(params('audio', 'mic', 'm=audio')).message).toMatch(/^rtpParameters: must be an object/);
  });
});
