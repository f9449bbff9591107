import { Type } from '@sinclair/typebox';

/** Shared pieces of method schemas. mediasoup validates the inner structure of media parameters. */
export const MediaId = Type.String({ minLength: 1, maxLength: 64 });
export const Kind = Type.Union([Type.Literal('audio'), Type.Literal('video')]);
export const SourceSchema = Type.Union([Type.Literal('mic'), Type.Literal('camera'), Type.Literal('screen')]);
export const Direction = Type.Union([Type.Literal('send'), Type.Literal('recv')]);

export const RtpCapabilities = Type.Object({
  codecs: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 64 })),
  headerExtensions: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 64 })),
}, { additionalProperties: true });

export const RtpParameters = Type.Object({
  codecs: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1, maxItems: 32 }),
  encodings: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 8 })),
  headerExtensions: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 32 })),
  rtcp: Type.Optional(Type.Object({}, { additionalProperties: true })),
  mid: Type.Optional(Type.String({ maxLength: 32 })),
}, { additionalProperties: true });

export const DtlsParameters = Type.Object({
  role: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('client'), Type.Literal('server')])),
  fingerprints: Type.Array(Type.Object({
    algorithm: Type.String({ maxLength: 16 }),
    value: Type.String({ maxLength: 256 }),
  }), { minItems: 1, maxItems: 8 }),
}, { additionalProperties: false });

export const Empty = Type.Object({}, { additionalProperties: false });
