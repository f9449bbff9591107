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
    /** Node HTTP server timeouts (fastify connectionTimeout, requestTimeout, keepAliveTimeout); 0 turns one off. */
    connectionTimeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    requestTimeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    keepAliveTimeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    /**
     * Addresses or CIDR ranges of the reverse proxies in front (fastify trustProxy): a request from one
     * of them is taken to come from the rightmost untrusted address of its X-Forwarded-For. Empty: none.
     */
    trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64 }),
    /** POST /api/link-check per client address: a token bucket (docs/protocol.md, "Checking a link"). */
    linkCheckRateLimit: section({
      requestsPerSecond: Type.Number({ minimum: 0.01, maximum: 100000 }),
      burst: Type.Integer({ minimum: 1, maximum: 100000 }),
    }),
  }),
  /**
   * `development` (the default): a token secret missing from the configuration is generated into
   * the data dir and the banner prints demo links. `production` (the container image's default):
   * the token key must be configured, or the server refuses to start (JWT_SECRET_REQUIRED).
   */
  mode: Type.Union([Type.Literal('development'), Type.Literal('production')]),
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
    /** On a congested downlink, hold simulcast video at the layer whose full frame rate fits rather than a larger one at a fraction of it (src/room/frame-rate-first.ts). */
    frameRateFirst: Type.Boolean(),
    /** What the browser client publishes its camera as: VP8 simulcast (3 encodings) or VP9 SVC (L3T3_KEY). */
    videoPublishing: Type.Union([Type.Literal('vp8-simulcast'), Type.Literal('vp9-svc')]),
    /** How often transports' bitrates are summed for sfu_bitrate_bits; 0 turns the sampling off. */
    bitrateSampleSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    iceServers: Type.Array(IceServer),
    /**
     * TURN with short-lived credentials (coturn `use-auth-secret`): every join (and restartIce) gets
     * one more iceServers entry for these URLs, with a credential minted for it. Empty urls: off.
     */
    turn: section({
      /** turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=tcp]. */
      urls: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 16 }),
      /** coturn's static-auth-secret; never logged, never in /readyz or an error. */
      secret: Type.String({ maxLength: 1024 }),
      /** Lifetime of a minted credential: a new TURN allocation with it is refused after this. */
      ttlSeconds: Type.Integer({ minimum: 60, maximum: 86400 }),
    }),
  }),
  rooms: section({
    maxParticipants: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** A room step (one worker or store call sequence) that takes longer is abandoned with MEDIA_ERROR. */
    stepTimeoutSeconds: Type.Number({ minimum: 0.1, maximum: 600 }),
  }),
  /** End-to-end encrypted media (docs/protocol.md, "End-to-end encryption"; docs/security.md). */
  e2ee: section({
    /** A room's mode unless the token's `e2ee` claim says otherwise: off, optional (if the first participant can), required. */
    mode: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')]),
  }),
  signalling: section({
    maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 1048576 }),
    reconnectGraceSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    pingIntervalSeconds: Type.Number({ minimum: 1, maximum: 3600 }),
    /** Limits and backpressure per connection (docs/configuration.md, "Limits"). */
    rateLimit: section({
      /** Request budget of one connection: a token bucket. */
      requestsPerSecond: Type.Number({ minimum: 0.1, maximum: 100000 }),
      burst: Type.Integer({ minimum: 1, maximum: 100000 }),
      /** More RATE_LIMITED refusals than this within refusalWindowSeconds close the socket (4429). */
      maxRefusals: Type.Integer({ minimum: 1, maximum: 1000000 }),
      refusalWindowSeconds: Type.Number({ minimum: 0.1, maximum: 3600 }),
      /** After a connection is cut with 4429, new connections with its token are refused (429 RATE_LIMITED) this long. */
      cooldownSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    }),
    /** Budget of the requests that write safety records (join per token; updateLocation, withdrawConsent per participant). */
    auditRateLimit: section({
      requestsPerSecond: Type.Number({ minimum: 0.01, maximum: 100000 }),
      burst: Type.Integer({ minimum: 1, maximum: 100000 }),
    }),
    /** Requests received and not yet answered, per connection; beyond it RATE_LIMITED at once. */
    maxQueuedRequests: Type.Integer({ minimum: 1, maximum: 100000 }),
    /** Refused joins per connection before it is closed (4429). */
    maxRefusedJoins: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** Open connections per token that have not joined; the next upgrade is refused (429). */
    maxUnjoinedPerToken: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** A connection that has not joined this long after opening is closed (4408); 0: no deadline. */
    joinTimeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    /** A socket whose unsent output passes this is terminated (a client that stopped reading). */
    maxBufferedBytes: Type.Integer({ minimum: 65536, maximum: 1073741824 }),
  }),
  drain: section({
    timeoutSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
  }),
  store: section({
    /** Empty: SQLite at <dataDir>/records.db. postgres://... : PostgreSQL. */
    url: Type.String(),
    /** How often this node re-reads revocations from the store (nodes sharing it enforce each other's kicks); 0: at start only. */
    revocationSyncSeconds: Type.Number({ minimum: 0, maximum: 3600 }),
    /** Deadline of every store call on the request paths: past it the call fails with STORE_UNAVAILABLE (PostgreSQL timeouts derive from it). */
    callTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000 }),
    /** SQLite: how long a write waits for a lock held by another connection before it fails (SQLITE_BUSY). */
    sqliteBusyTimeoutMs: Type.Integer({ minimum: 0, maximum: 60000 }),
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
    /** The /safety socket.io namespace: handshake, message size, liveness and the per-socket event budget. */
    socket: section({
      connectTimeoutSeconds: Type.Number({ minimum: 1, maximum: 600 }),
      maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 1048576 }),
      pingIntervalSeconds: Type.Number({ minimum: 1, maximum: 600 }),
      pingTimeoutSeconds: Type.Number({ minimum: 1, maximum: 600 }),
      /** Events other than panic:raise (never refused) per socket: a token bucket. */
      eventsPerSecond: Type.Number({ minimum: 0.1, maximum: 100000 }),
      eventBurst: Type.Integer({ minimum: 1, maximum: 100000 }),
      /** Open sockets per identity; one more closes the oldest. */
      maxSocketsPerIdentity: Type.Integer({ minimum: 1, maximum: 1000 }),
    }),
    /** Open incidents one participant may have at once; further raises are recorded on one of them. */
    maxOpenIncidentsPerParticipant: Type.Integer({ minimum: 1, maximum: 100 }),
    /** How long a panic raise or event waits for the store before it is spooled and delivery goes on. */
    storeDeadlineMs: Type.Integer({ minimum: 10, maximum: 10000 }),
  }),
  location: section({
    /** Roles that must give an emergency contact with their location. */
    emergencyContactRequiredFor: Type.Array(Role),
  }),
  /** Several nodes as one service over Redis (docs/scaling.md). Empty redisUrl: a single node, no Redis. */
  cluster: section({
    /** Empty: single node. redis://[user:password@]host:port[/db] or rediss://... (TLS). */
    redisUrl: Type.String({ maxLength: 2048, pattern: '^(|rediss?://[^\\s]+)$' }),
    /** This node's name in the cluster; empty: <hostname>-<pid>. */
    nodeId: Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9._-]*$' }),
    /** Deadline of every Redis call (commands and the liveness probe); past it the call fails. */
    redisCallTimeoutMs: Type.Integer({ minimum: 50, maximum: 10000 }),
    /** Deadline of opening a connection to Redis (TCP, TLS, AUTH). */
    redisConnectTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000 }),
    /** How often each Redis connection is probed (PING) for the liveness view (/readyz, sfu_redis_up). */
    redisProbeIntervalMs: Type.Integer({ minimum: 100, maximum: 60000 }),
    /** Prefix of every Redis key and channel this service uses (deployments sharing one Redis use different ones). */
    redisKeyPrefix: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }),
    /** The URL clients use to reach this node directly (http(s)://host[:port], no path): where other nodes redirect joins of the rooms it hosts. Required with redisUrl. */
    publicUrl: Type.String({ maxLength: 512, pattern: '^(|https?://[^\\s/?#]+/?)$' }),
    /** How often this node renews its presence (load, draining) and the leases of the rooms it hosts. */
    presenceIntervalMs: Type.Integer({ minimum: 100, maximum: 60000 }),
    /** Lifetime of a presence record: a node not renewing it within this is dead to placement. */
    presenceTtlMs: Type.Integer({ minimum: 300, maximum: 300000 }),
    /** Lifetime of a room's placement lease (room -> node), renewed every presenceIntervalMs by its node while it hosts the room. */
    placementLeaseMs: Type.Integer({ minimum: 500, maximum: 600000 }),
    /** Lifetime of an open incident's escalation lease (incident -> owning node), renewed every presenceIntervalMs by its owner; another node takes the escalation over once it runs out. */
    escalationLeaseMs: Type.Integer({ minimum: 500, maximum: 600000 }),
  }),
});

export type Config = Static<typeof ConfigSchema>;
