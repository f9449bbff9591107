import { Type, type Static, type TProperties } from '@sinclair/typebox';

/** Objects in the config reject unknown keys, so a typo is an error, not a silent default. */
const section = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });

const Role = Type.Union([Type.Literal('clinician'), Type.Literal('student'), Type.Literal('guardian'), Type.Literal('observer'), Type.Literal('interpreter')]);

const IceServer = section({
  urls: Type.Union([Type.String(), Type.Array(Type.String())]),
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String()),
});

export const ConfigSchema = section({
  http: section({
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** Base URL printed in demo links; derived from host/port when empty. */
    publicUrl: Type.String(),
  }),
  dataDir: Type.String({ minLength: 1 }),
  log: section({
    level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  }),
  jwt: section({
    /** HS256 shared secret. When neither secret nor publicKey is set, one is generated into the data dir. */
    secret: Type.String(),
    /** PEM public key for RS256/ES256. */
    publicKey: Type.String(),
    /** Allowed algorithms; empty means HS256 with a secret, RS256+ES256 with a public key. */
    algorithms: Type.Array(Type.Union([Type.Literal('HS256'), Type.Literal('RS256'), Type.Literal('ES256')])),
    issuer: Type.String(),
    audience: Type.String(),
  }),
  admin: section({
    /** Bearer credential for the admin REST API. Generated into the data dir when empty. */
    token: Type.String(),
  }),
  media: section({
    /** mediasoup workers; 0 means one per CPU core. */
    workers: Type.Integer({ minimum: 0, maximum: 256 }),
    workerLogLevel: Type.Union([Type.Literal('debug'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('none')]),
    listenIp: Type.String({ minLength: 1 }),
    announcedIp: Type.String(),
    /** WebRtcServer port of worker 0; worker i listens on rtcPort + i (UDP and TCP). 0 picks free ports (tests). */
    rtcPort: Type.Integer({ minimum: 0, maximum: 65535 }),
    initialAvailableOutgoingBitrate: Type.Integer({ minimum: 100000 }),
    maxIncomingBitrate: Type.Integer({ minimum: 0 }),
    /** Cap on what the server sends one subscriber (recv transports); 0: only the bandwidth estimate limits it. */
    maxOutgoingBitrate: Type.Integer({ minimum: 0 }),
    /** What the browser client publishes its camera as: VP8 simulcast (3 encodings) or VP9 SVC (L3T3_KEY). */
    videoPublishing: Type.Union([Type.Literal('vp8-simulcast'), Type.Literal('vp9-svc')]),
    /** How often transports' bitrates are summed for sfu_bitrate_bits; 0 turns the sampling off. */
    bitrateSampleSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    iceServers: Type.Array(IceServer),
  }),
  rooms: section({
    maxParticipants: Type.Integer({ minimum: 1, maximum: 1000 }),
  }),
  signalling: section({
    maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 1048576 }),
    reconnectGraceSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    pingIntervalSeconds: Type.Number({ minimum: 1, maximum: 3600 }),
  }),
  drain: section({
    timeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
  }),
  store: section({
    /** Empty: SQLite at <dataDir>/records.db. postgres://... : PostgreSQL. */
    url: Type.String(),
    /** How often this node re-reads revocations from the store (nodes sharing it enforce each other's kicks); 0: at start only. */
    revocationSyncSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
  }),
  records: section({
    /** AES-256-GCM keys for record fields, newest first (base64, 32 bytes). Empty: one is generated into the data dir. */
    keys: Type.Array(section({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), key: Type.String({ minLength: 40 }) })),
    retentionYears: Type.Number({ minimum: 1, maximum: 100 }),
  }),
  consent: section({
    /** Consent policy versions accepted now; the first is the current one. */
    policyVersions: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
    /** Roles whose consent must come from a guardian or legal representative. */
    guardianRequiredFor: Type.Array(Role),
    /** Rooms whose policy lets those roles consent for themselves. */
    selfConsentRooms: Type.Array(Type.String({ minLength: 1, maxLength: 128 })),
  }),
  forwarding: section({
    /** subscriber role -> the publisher roles whose media it may receive. */
    receive: section({
      clinician: Type.Array(Role), student: Type.Array(Role), guardian: Type.Array(Role), observer: Type.Array(Role), interpreter: Type.Array(Role),
    }),
    /** Rooms whose policy lets everyone receive everyone (e.g. a group where students see each other). */
    openRooms: Type.Array(Type.String({ minLength: 1, maxLength: 128 })),
  }),
  safety: section({
    /** Escalation tiers: after N seconds without an acknowledgement, notify these targets. */
    tiers: Type.Array(section({
      afterSeconds: Type.Number({ minimum: 0, maximum: 86400 }),
      notify: Type.Array(Type.String({ pattern: '^(room-clinicians|desk|webhook:[A-Za-z0-9_-]+)$' }), { minItems: 1 }),
    }), { minItems: 1, maxItems: 10 }),
    /** Webhook receivers; the body is signed with HMAC-SHA256 of `secret`. */
    webhooks: Type.Array(section({
      name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
      url: Type.String({ pattern: '^https?://' }),
      secret: Type.String({ minLength: 16 }),
    })),
    /** Show non-silent alarms to every participant of the room (silent ones reach clinical roles only). */
    announceToRoom: Type.Boolean(),
    webhookTimeoutSeconds: Type.Number({ minimum: 0.1, maximum: 60 }),
    webhookMaxBackoffSeconds: Type.Number({ minimum: 0.1, maximum: 3600 }),
  }),
  location: section({
    /** Roles that must give an emergency contact with their location. */
    emergencyContactRequiredFor: Type.Array(Role),
  }),
});

export type Config = Static<typeof ConfigSchema>;
