import { Type, type Static } from '@sinclair/typebox';

/** A person's name as shown to clinicians and kept in the records: no control characters, no bidirectional overrides or isolates. */
/** A name people read (display, consent, emergency contact): any script, no control characters and no bidirectional overrides. */
export const PrintableName = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f\\u202a-\\u202e\\u2066-\\u2069]+$' });
const Name = PrintableName(120);

export const ConsentSchema = Type.Object({
  policyVersion: Type.String({ minLength: 1, maxLength: 64 }),
  scopes: Type.Array(Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]), { minItems: 1, maxItems: 2, uniqueItems: true }),
  grantedBy: Type.Object({
    relation: Type.Union([Type.Literal('self'), Type.Literal('guardian'), Type.Literal('legal-representative')]),
    name: Name,
  }, { additionalProperties: false }),
  method: Type.Union([Type.Literal('electronic'), Type.Literal('verbal-attested')]),
  /** For a verbal consent: the identity of a clinician admitted to the room at the time of the join, never the joiner's (validate.ts). */
  attestedBy: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
}, { additionalProperties: false });
export type ConsentInput = Static<typeof ConsentSchema>;

export const EmergencyContactSchema = Type.Object({
  name: Name,
  phone: Type.String({ minLength: 3, maxLength: 32, pattern: '^\\+?[0-9][0-9 ().-]{1,30}$' }),
}, { additionalProperties: false });

/** A device fix: WGS84 degrees, optional accuracy radius. */
export const CoordinatesSchema = Type.Object({
  lat: Type.Number({ minimum: -90, maximum: 90 }),
  lon: Type.Number({ minimum: -180, maximum: 180 }),
  accuracyMeters: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000 })),
}, { additionalProperties: false });

export const LocationSchema = Type.Object({
  /** Civic address, or school / building / room. */
  description: Type.String({ minLength: 1, maxLength: 300 }),
  /** ISO 3166-2 subdivision, e.g. US-CA. */
  region: Type.String({ pattern: '^[A-Z]{2}-[A-Z0-9]{1,3}$' }),
  source: Type.Union([Type.Literal('self-reported'), Type.Literal('device-geolocation'), Type.Literal('ip')]),
  coordinates: Type.Optional(CoordinatesSchema),
  /** RFC 3339 date-time with an offset, e.g. 2026-12-01T10:00:00Z (checked in validate.ts, which names the field). */
  capturedAt: Type.String({ minLength: 10, maxLength: 40 }),
  emergencyContact: Type.Optional(EmergencyContactSchema),
}, { additionalProperties: false });
export type LocationInput = Static<typeof LocationSchema>;
