import type { types } from 'mediasoup';
import {
  MAX_SSRC, checkCapabilityExtension, checkCodecCommon, checkParameterExtension, describeCodecs, isInteger, isObject, isRtx,
  mimeKind, refuse, routerCodecs, sameCodec, type Obj,
} from './rtp-fields.ts';

/**
 * What clients send about media, checked before the room hands it to mediasoup: the RTP capabilities of
 * a recv transport (createTransport) and the RTP parameters of a producer (produce). Refusals are
 * INVALID_REQUEST with the failing field's path; they replace mediasoup's silent outcomes (a recv
 * transport that never gets a consumer) and its 500s (MEDIA_ERROR for a codec the router lacks).
 * Pure: no I/O, nothing modified. docs/protocol.md ("Integrating without mediasoup-client") documents
 * the shapes.
 */

/** The room's publishing policy. */
export interface PublishingPolicy {
  /** Most encodings (RTP streams) one producer of each source may send: 1 is one stream, more is simulcast. */
  readonly maxEncodings: Readonly<Record<string, number>>;
}

/** A microphone is one stream; a camera or a screen is one stream or up to three simulcast streams. */
export const PUBLISHING_POLICY: PublishingPolicy = { maxEncodings: { mic: 1, camera: 3, screen: 3 } };

const SIMULCAST_CODECS = /^video\/(vp8|h264)$/i;
const RID = /^[A-Za-z0-9_-]{1,16}$/;
const SCALABILITY = /^[LS]([1-9]\d?)T([1-9]\d?)/;
const RID_URI = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';

/**
 * RTP capabilities of a receiving endpoint (mediasoup-client's `device.recvRtpCapabilities`): each codec
 * `{kind, mimeType, clockRate, preferredPayloadType?, channels?, parameters?, rtcpFeedback?}`, each header
 * extension `{kind, uri, preferredId}`, and at least one audio and one video codec the room sends
 * (mimeType and clock rate, and channels for audio).
 * mediasoup 3.18+ types `preferredPayloadType` as required; the protocol keeps it optional (an
 * endpoint without mediasoup-client may omit it): consuming never reads it (ortc.getConsumerRtpParameters
 * keeps the router's payload types), so a capability without it is still a usable RtpCapabilities.
 */
export function checkRtpCapabilities(caps: unknown, routerCaps: types.RtpCapabilities, root = 'rtpCapabilities'): asserts caps is types.RtpCapabilities {
  if (!isObject(caps)) throw refuse(root, 'must be an object {codecs, headerExtensions}');
  const { codecs, headerExtensions } = caps;
  if (codecs === undefined) {
    const sdpLike = 'sdp' in caps || 'rtp' in caps || 'fmtp' in caps;
    throw refuse(`${root}.codecs`, `required: the codecs this endpoint receives${sdpLike ? ' (SDP or an SDP media section is not accepted)' : ''}; see docs/protocol.md, "Integrating without mediasoup-client"`);
  }
  if (!Array.isArray(codecs) || codecs.length === 0) throw refuse(`${root}.codecs`, 'must be a non-empty array');
  codecs.forEach((c: unknown, i) => checkCapabilityCodec(c, `${root}.codecs.${i}`));
  if (headerExtensions !== undefined) {
    if (!Array.isArray(headerExtensions)) throw refuse(`${root}.headerExtensions`, 'must be an array');
    headerExtensions.forEach((e: unknown, i) => checkCapabilityExtension(e, `${root}.headerExtensions.${i}`));
  }
  for (const kind of ['audio', 'video'] as const) {
    const offered = routerCodecs(routerCaps, kind);
    if (offered.length > 0 && !offered.some((rc) => codecs.some((c: Obj) => sameCodec(c, rc)))) {
      throw refuse(`${root}.codecs`, `receives none of this room's ${kind} codecs (${describeCodecs(offered)})`);
    }
  }
}

function checkCapabilityCodec(c: unknown, field: string): void {
  if (!isObject(c)) throw refuse(field, 'must be an object {kind, mimeType, clockRate, preferredPayloadType}');
  const kind = mimeKind(c.mimeType, `${field}.mimeType`);
  if (c.kind === undefined) throw refuse(`${field}.kind`, `required: "${kind}"`);
  if (c.kind !== kind) throw refuse(`${field}.kind`, `must be "${kind}" for ${String(c.mimeType)}`);
  if (c.preferredPayloadType === undefined && c.payloadType !== undefined) {
    throw refuse(`${field}.preferredPayloadType`, 'capabilities give preferredPayloadType, not payloadType (that belongs to rtpParameters)');
  }
  if (c.preferredPayloadType !== undefined && !isInteger(c.preferredPayloadType, 0, 127)) throw refuse(`${field}.preferredPayloadType`, 'must be an integer 0-127');
  checkCodecCommon(c, field);
}

/**
 * RTP parameters of a producer (what mediasoup-client's transport `produce` event gives): codecs of the
 * producer's kind that the router takes, RTX codecs pointing at them, and 1 to `policy.maxEncodings[source]`
 * encodings (1 for audio), each with an ssrc or a rid; simulcast only with VP8 or H264.
 */
export function checkRtpParameters(
  kind: types.MediaKind, source: string, params: unknown, routerCaps: types.RtpCapabilities, policy: PublishingPolicy, root = 'rtpParameters',
): asserts params is types.RtpParameters {
  if (!isObject(params)) throw refuse(root, 'must be an object {codecs, encodings, headerExtensions, rtcp, mid}');
  if (params.mid !== undefined && (typeof params.mid !== 'string' || params.mid.length === 0)) throw refuse(`${root}.mid`, 'must be a non-empty string when given');
  const media = checkParameterCodecs(kind, params.codecs, routerCaps, `${root}.codecs`);
  checkEncodings(kind, source, params.encodings, media, policy, `${root}.encodings`);
  const extensions = params.headerExtensions ?? [];
  if (!Array.isArray(extensions)) throw refuse(`${root}.headerExtensions`, 'must be an array');
  extensions.forEach((e: unknown, i) => checkParameterExtension(e, `${root}.headerExtensions.${i}`));
  // Streams known only by rid are recognised by that header extension: without it none would ever match.
  const ridOnly = (params.encodings as Obj[]).some((e) => e.ssrc === undefined);
  if (ridOnly && !extensions.some((e: Obj) => e.uri === RID_URI)) {
    throw refuse(`${root}.headerExtensions`, `encodings with a rid and no ssrc need the ${RID_URI} extension (with the id the packets carry)`);
  }
  const { rtcp } = params;
  if (rtcp !== undefined) {
    if (!isObject(rtcp)) throw refuse(`${root}.rtcp`, 'must be an object {cname?, reducedSize?}');
    // Optional: mediasoup gives all producers of a transport the first CNAME it was given, or one of its own.
    if (rtcp.cname !== undefined && (typeof rtcp.cname !== 'string' || rtcp.cname.length > 255)) {
      throw refuse(`${root}.rtcp.cname`, 'must be a string of at most 255 characters when given');
    }
    if (rtcp.reducedSize !== undefined && typeof rtcp.reducedSize !== 'boolean') throw refuse(`${root}.rtcp.reducedSize`, 'must be a boolean');
  }
}

/** Checks the codec list; returns the media (non-RTX) codecs, in order. */
function checkParameterCodecs(kind: types.MediaKind, codecs: unknown, routerCaps: types.RtpCapabilities, field: string): Obj[] {
  if (codecs === undefined) throw refuse(field, 'required');
  if (!Array.isArray(codecs) || codecs.length === 0) throw refuse(field, 'must be a non-empty array');
  const offered = routerCodecs(routerCaps, kind);
  const byPayloadType = new Map<number, Obj>();
  codecs.forEach((c: unknown, i) => {
    const f = `${field}.${i}`;
    if (!isObject(c)) throw refuse(f, 'must be an object {mimeType, payloadType, clockRate}');
    if (mimeKind(c.mimeType, `${f}.mimeType`) !== kind) throw refuse(`${f}.mimeType`, `${String(c.mimeType)} is not ${kind}`);
    if (!isInteger(c.payloadType, 0, 127)) throw refuse(`${f}.payloadType`, c.payloadType === undefined ? 'required (an integer 0-127)' : 'must be an integer 0-127');
    if (byPayloadType.has(c.payloadType)) throw refuse(`${f}.payloadType`, `${c.payloadType} is used by another codec`);
    byPayloadType.set(c.payloadType, c);
    checkCodecCommon(c, f);
    if (isRtx(c.mimeType as string)) return;
    const match = offered.find((rc) => sameCodec(c, rc));
    if (!match) throw refuse(`${f}.mimeType`, `${String(c.mimeType)} at ${String(c.clockRate)}${kind === 'audio' ? `/${String(c.channels ?? 1)}` : ''} is not a codec of this room (${describeCodecs(offered)})`);
    // mediasoup also matches VP9 profiles (and H264 profiles, which it checks itself).
    if (/^video\/vp9$/i.test(match.mimeType)) {
      const want = match.parameters?.['profile-id'] || 0;
      if (((c.parameters as Obj | undefined)?.['profile-id'] || 0) !== want) throw refuse(`${f}.parameters.profile-id`, `this room takes VP9 profile-id ${String(want)} (a number)`);
    }
  });
  const media = [...byPayloadType.values()].filter((c) => !isRtx(c.mimeType as string));
  if (media.length === 0) throw refuse(field, 'needs a media codec, not only RTX');
  codecs.forEach((c: Obj, i) => {
    if (!isRtx(c.mimeType as string)) return;
    const apt = (c.parameters as Obj | undefined)?.apt;
    const target = typeof apt === 'number' ? byPayloadType.get(apt) : undefined;
    if (!target || isRtx(target.mimeType as string)) throw refuse(`${field}.${i}.parameters.apt`, 'required: the payloadType of the media codec this RTX codec repairs');
    const capCodec = offered.find((rc) => sameCodec(target, rc));
    const capRtx = (routerCaps.codecs ?? []).some((rc) => isRtx(rc.mimeType) && rc.parameters?.apt === capCodec?.preferredPayloadType);
    if (!capRtx) throw refuse(`${field}.${i}`, `this room has no RTX for ${String(target.mimeType)}`);
  });
  return media;
}

function checkEncodings(kind: types.MediaKind, source: string, encodings: unknown, media: Obj[], policy: PublishingPolicy, field: string): void {
  if (encodings === undefined) throw refuse(field, 'required: one entry per RTP stream, each with ssrc or rid');
  if (!Array.isArray(encodings) || encodings.length === 0) throw refuse(field, 'must be a non-empty array: one entry per RTP stream, each with ssrc or rid');
  const max = kind === 'audio' ? 1 : Math.max(1, policy.maxEncodings[source] ?? 1);
  if (encodings.length > max) throw refuse(field, `at most ${max} for ${source} (got ${encodings.length})`);
  const mediaPayloadTypes = new Set(media.map((c) => c.payloadType));
  // The codec of the streams: the first encoding's codecPayloadType, else the first media codec (as mediasoup).
  const first: unknown = encodings[0];
  const chosen = isObject(first) ? media.find((c) => c.payloadType === first.codecPayloadType) : undefined;
  const codec = String((chosen ?? media[0]!).mimeType);
  if (encodings.length > 1 && !SIMULCAST_CODECS.test(codec)) {
    throw refuse(field, `simulcast (${encodings.length} encodings) needs VP8 or H264, not ${codec}; send VP9 as one encoding with a scalabilityMode such as L3T3_KEY`);
  }
  const ssrcs = new Set<number>();
  const rids = new Set<string>();
  const uniqueSsrc = (ssrc: unknown, f: string) => {
    if (!isInteger(ssrc, 1, MAX_SSRC)) throw refuse(f, `must be an integer 1-${MAX_SSRC}`);
    if (ssrcs.has(ssrc)) throw refuse(f, `${ssrc} is used by another stream`);
    ssrcs.add(ssrc);
  };
  encodings.forEach((e: unknown, i) => {
    const f = `${field}.${i}`;
    if (!isObject(e)) throw refuse(f, 'must be an object with ssrc or rid');
    if (e.ssrc === undefined && e.rid === undefined) throw refuse(f, 'needs ssrc (an integer) or rid (a string)');
    if (e.ssrc !== undefined) uniqueSsrc(e.ssrc, `${f}.ssrc`);
    if (e.rid !== undefined) {
      if (typeof e.rid !== 'string' || !RID.test(e.rid)) throw refuse(`${f}.rid`, 'must be 1-16 of A-Z a-z 0-9 _ -');
      if (rids.has(e.rid)) throw refuse(`${f}.rid`, `${e.rid} is used by another encoding`);
      rids.add(e.rid);
    }
    if (e.rtx !== undefined) {
      if (!isObject(e.rtx)) throw refuse(`${f}.rtx`, 'must be an object {ssrc}');
      uniqueSsrc(e.rtx.ssrc, `${f}.rtx.ssrc`);
    }
    if (e.codecPayloadType !== undefined && !mediaPayloadTypes.has(e.codecPayloadType as number)) {
      throw refuse(`${f}.codecPayloadType`, 'must be the payloadType of a media codec in codecs');
    }
    if (e.scalabilityMode !== undefined) {
      const m = typeof e.scalabilityMode === 'string' ? SCALABILITY.exec(e.scalabilityMode) : null;
      if (!m) throw refuse(`${f}.scalabilityMode`, 'must be like L1T3 or L3T3_KEY');
      const [spatial, temporal] = [Number(m[1]), Number(m[2])];
      if (kind === 'audio' && (spatial > 1 || temporal > 1)) throw refuse(`${f}.scalabilityMode`, 'audio has a single layer');
      if (spatial > 1 && encodings.length > 1) throw refuse(`${f}.scalabilityMode`, 'a simulcast encoding carries one spatial layer (L1Tn)');
    }
  });
}
