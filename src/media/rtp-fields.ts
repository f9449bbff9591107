import type { types } from 'mediasoup';
import { SfuError } from '../shared/errors.ts';

/**
 * Field checks shared by rtp-checks.ts: each names the failing field's path (`rtpParameters.codecs.0.payloadType`)
 * and refuses with INVALID_REQUEST. Pure: they read what clients sent and never modify it (mediasoup's own
 * validators fill in defaults in place, so they run later, on the room's side).
 */

export type Obj = Record<string, unknown>;

export function refuse(field: string, message: string): SfuError {
  return new SfuError('INVALID_REQUEST', `${field}: ${message}`);
}

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isInteger(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

export const MAX_SSRC = 0xffff_ffff;
const MIME = /^(audio|video)\/[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
const FEEDBACK_TYPE = /^[A-Za-z0-9_.+-]{1,32}$/;
const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

export const isRtx = (mimeType: string): boolean => /\/rtx$/i.test(mimeType);

/** `mimeType`: "audio/<name>" or "video/<name>"; returns its kind. */
export function mimeKind(v: unknown, field: string): types.MediaKind {
  if (v === undefined) throw refuse(field, 'required: "audio/<codec>" or "video/<codec>", e.g. "audio/opus"');
  const m = typeof v === 'string' ? MIME.exec(v) : null;
  if (!m) throw refuse(field, 'must be "audio/<codec>" or "video/<codec>", e.g. "video/VP8"');
  return m[1] as types.MediaKind;
}

/** The entries every codec has, in capabilities and in parameters alike. */
export function checkCodecCommon(c: Obj, field: string): void {
  if (!isInteger(c.clockRate, 1, 10_000_000)) throw refuse(`${field}.clockRate`, c.clockRate === undefined ? 'required (an integer in Hz, e.g. 48000 or 90000)' : 'must be an integer in Hz');
  if (c.channels !== undefined && !isInteger(c.channels, 1, 255)) throw refuse(`${field}.channels`, 'must be an integer from 1');
  if (c.parameters !== undefined) {
    if (!isObject(c.parameters)) throw refuse(`${field}.parameters`, 'must be an object of strings and numbers');
    for (const [key, value] of Object.entries(c.parameters)) {
      if (typeof value !== 'string' && typeof value !== 'number') throw refuse(`${field}.parameters.${key}`, 'must be a string or a number');
    }
    if (c.parameters.apt !== undefined && typeof c.parameters.apt !== 'number') throw refuse(`${field}.parameters.apt`, 'must be a number (a payload type)');
  }
  if (c.rtcpFeedback !== undefined) {
    if (!Array.isArray(c.rtcpFeedback)) throw refuse(`${field}.rtcpFeedback`, 'must be an array of {type, parameter?}');
    c.rtcpFeedback.forEach((fb: unknown, i) => {
      const f = `${field}.rtcpFeedback.${i}`;
      if (!isObject(fb) || typeof fb.type !== 'string' || !FEEDBACK_TYPE.test(fb.type)) throw refuse(`${f}.type`, 'required: a string such as "nack", "ccm", "transport-cc"');
      if (fb.parameter !== undefined && typeof fb.parameter !== 'string') throw refuse(`${f}.parameter`, 'must be a string such as "pli" or "fir"');
    });
  }
}

/** A header extension of RTP capabilities: `{kind, uri, preferredId, preferredEncrypt?, direction?}`. */
export function checkCapabilityExtension(e: unknown, field: string): void {
  if (!isObject(e)) throw refuse(field, 'must be an object {kind, uri, preferredId}');
  if (e.kind !== 'audio' && e.kind !== 'video') throw refuse(`${field}.kind`, 'required: "audio" or "video"');
  if (typeof e.uri !== 'string' || e.uri.length === 0) throw refuse(`${field}.uri`, 'required: the extension URI');
  if (!isInteger(e.preferredId, 1, 255)) throw refuse(`${field}.preferredId`, 'required: the extension id, an integer 1-255 (the router\'s id for this URI)');
  if (e.preferredEncrypt !== undefined && typeof e.preferredEncrypt !== 'boolean') throw refuse(`${field}.preferredEncrypt`, 'must be a boolean');
  if (e.direction !== undefined && !DIRECTIONS.has(e.direction as string)) throw refuse(`${field}.direction`, 'must be sendrecv, sendonly, recvonly or inactive');
}

/** A header extension of RTP parameters: `{uri, id, encrypt?, parameters?}`. */
export function checkParameterExtension(e: unknown, field: string): void {
  if (!isObject(e)) throw refuse(field, 'must be an object {uri, id}');
  if (typeof e.uri !== 'string' || e.uri.length === 0) throw refuse(`${field}.uri`, 'required: the extension URI');
  if (!isInteger(e.id, 1, 255)) throw refuse(`${field}.id`, 'required: an integer 1-255');
  if (e.encrypt !== undefined && typeof e.encrypt !== 'boolean') throw refuse(`${field}.encrypt`, 'must be a boolean');
  if (e.parameters !== undefined && !isObject(e.parameters)) throw refuse(`${field}.parameters`, 'must be an object');
}

/** The router's media codecs (no RTX) of one kind. */
export function routerCodecs(routerCaps: types.RtpCapabilities, kind: types.MediaKind): types.RtpCodecCapability[] {
  return (routerCaps.codecs ?? []).filter((c) => c.kind === kind && !isRtx(c.mimeType));
}

/** "audio/opus 48000/2, ..." for messages. */
export function describeCodecs(codecs: readonly types.RtpCodecCapability[]): string {
  const names = codecs.map((c) => `${c.mimeType} ${c.clockRate}${c.kind === 'audio' ? `/${c.channels ?? 1}` : ''}`);
  return [...new Set(names)].join(', ');
}

/** mediasoup's match on mimeType, clock rate and (audio) channels; an absent channel count is 1, as in mediasoup. */
export function sameCodec(a: Obj, b: types.RtpCodecCapability): boolean {
  if (typeof a.mimeType !== 'string' || a.mimeType.toLowerCase() !== b.mimeType.toLowerCase() || a.clockRate !== b.clockRate) return false;
  return b.kind !== 'audio' || (a.channels ?? 1) === (b.channels ?? 1);
}
