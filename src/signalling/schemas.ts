import { Type } from '@sinclair/typebox';

/**
 * Shared pieces of method schemas. Media parameters are typed here as far as a schema can say it
 * (types, ranges, required fields); src/media/rtp-checks.ts then checks what needs the room (codecs
 * the router has, encodings against the publishing policy) before mediasoup sees them.
 */
export const MediaId = Type.String({ minLength: 1, maxLength: 64 });
export const Kind = Type.Union([Type.Literal('audio'), Type.Literal('video')]);
export const SourceSchema = Type.Union([Type.Literal('mic'), Type.Literal('camera'), Type.Literal('screen')]);
export const Direction = Type.Union([Type.Literal('send'), Type.Literal('recv')]);

/** Inner media objects keep keys the server does not read (mediasoup-client adds some, e.g. `msid`). */
const loose = { additionalProperties: true } as const;
const PayloadType = Type.Integer({ minimum: 0, maximum: 127 });
const Ssrc = Type.Integer({ minimum: 1, maximum: 0xffff_ffff });
const ExtensionId = Type.Integer({ minimum: 1, maximum: 255 });
const Uri = Type.String({ minLength: 1, maxLength: 256 });
const Codec = {
  mimeType: Type.String({ pattern: '^(audio|video)/[A-Za-z0-9][A-Za-z0-9_.+-]*$', maxLength: 64 }),
  clockRate: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
  channels: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
  parameters: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 256 }), Type.Number()]), { maxProperties: 32 })),
  rtcpFeedback: Type.Optional(Type.Array(Type.Object({
    type: Type.String({ minLength: 1, maxLength: 32 }),
    parameter: Type.Optional(Type.String({ maxLength: 32 })),
  }, loose), { maxItems: 16 })),
};

export const RtpCapabilities = Type.Object({
  codecs: Type.Array(Type.Object({ kind: Kind, preferredPayloadType: Type.Optional(PayloadType), ...Codec }, loose), { minItems: 1, maxItems: 64 }),
  headerExtensions: Type.Optional(Type.Array(Type.Object({
    kind: Kind,
    uri: Uri,
    preferredId: ExtensionId,
    preferredEncrypt: Type.Optional(Type.Boolean()),
    direction: Type.Optional(Type.Union([Type.Literal('sendrecv'), Type.Literal('sendonly'), Type.Literal('recvonly'), Type.Literal('inactive')])),
  }, loose), { maxItems: 64 })),
}, loose);

export const RtpParameters = Type.Object({
  codecs: Type.Array(Type.Object({ payloadType: PayloadType, ...Codec }, loose), { minItems: 1, maxItems: 32 }),
  encodings: Type.Array(Type.Object({
    ssrc: Type.Optional(Ssrc),
    rid: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,16}$' })),
    codecPayloadType: Type.Optional(PayloadType),
    rtx: Type.Optional(Type.Object({ ssrc: Ssrc }, loose)),
    dtx: Type.Optional(Type.Boolean()),
    scalabilityMode: Type.Optional(Type.String({ maxLength: 32 })),
    maxBitrate: Type.Optional(Type.Number({ minimum: 0 })),
  }, loose), { minItems: 1, maxItems: 8 }),
  headerExtensions: Type.Optional(Type.Array(Type.Object({
    uri: Uri,
    id: ExtensionId,
    encrypt: Type.Optional(Type.Boolean()),
    parameters: Type.Optional(Type.Object({}, loose)),
  }, loose), { maxItems: 32 })),
  rtcp: Type.Optional(Type.Object({
    cname: Type.Optional(Type.String({ maxLength: 255 })),
    reducedSize: Type.Optional(Type.Boolean()),
    mux: Type.Optional(Type.Boolean()),
  }, loose)),
  mid: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
}, loose);

export const DtlsParameters = Type.Object({
  role: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('client'), Type.Literal('server')])),
  fingerprints: Type.Array(Type.Object({
    algorithm: Type.String({ maxLength: 16 }),
    value: Type.String({ maxLength: 256 }),
  }, { additionalProperties: false }), { minItems: 1, maxItems: 8 }),
}, { additionalProperties: false });

export const Empty = Type.Object({}, { additionalProperties: false });
