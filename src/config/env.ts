/**
 * Environment overrides: each SFU_* variable sets one config path.
 * The names are part of the operator contract (docs/configuration.md).
 */
export type EnvKind = 'string' | 'int' | 'number' | 'boolean' | 'csv' | 'json';

export const ENV_VARS: Record<string, { path: string; kind: EnvKind }> = {
  SFU_MODE: { path: 'mode', kind: 'string' },
  SFU_HTTP_HOST: { path: 'http.host', kind: 'string' },
  SFU_HTTP_PORT: { path: 'http.port', kind: 'int' },
  SFU_PUBLIC_URL: { path: 'http.publicUrl', kind: 'string' },
  SFU_HTTP_CONNECTION_TIMEOUT_SECONDS: { path: 'http.connectionTimeoutSeconds', kind: 'number' },
  SFU_HTTP_REQUEST_TIMEOUT_SECONDS: { path: 'http.requestTimeoutSeconds', kind: 'number' },
  SFU_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: { path: 'http.keepAliveTimeoutSeconds', kind: 'number' },
  SFU_HTTP_TRUST_PROXY: { path: 'http.trustProxy', kind: 'csv' },
  SFU_LINK_CHECK_RATE_LIMIT_PER_SECOND: { path: 'http.linkCheckRateLimit.requestsPerSecond', kind: 'number' },
  SFU_LINK_CHECK_RATE_LIMIT_BURST: { path: 'http.linkCheckRateLimit.burst', kind: 'int' },
  SFU_DATA_DIR: { path: 'dataDir', kind: 'string' },
  SFU_LOG_LEVEL: { path: 'log.level', kind: 'string' },
  SFU_JWT_SECRET: { path: 'jwt.secret', kind: 'string' },
  SFU_JWT_PUBLIC_KEY: { path: 'jwt.publicKey', kind: 'string' },
  SFU_JWT_ALGORITHMS: { path: 'jwt.algorithms', kind: 'csv' },
  SFU_JWT_ISSUER: { path: 'jwt.issuer', kind: 'string' },
  SFU_JWT_AUDIENCE: { path: 'jwt.audience', kind: 'string' },
  SFU_ADMIN_TOKEN: { path: 'admin.token', kind: 'string' },
  SFU_WORKERS: { path: 'media.workers', kind: 'int' },
  SFU_WORKER_LOG_LEVEL: { path: 'media.workerLogLevel', kind: 'string' },
  SFU_LISTEN_IP: { path: 'media.listenIp', kind: 'string' },
  SFU_ANNOUNCED_IP: { path: 'media.announcedIp', kind: 'string' },
  SFU_RTC_PORT: { path: 'media.rtcPort', kind: 'int' },
  SFU_ICE_SERVERS: { path: 'media.iceServers', kind: 'json' },
  SFU_TURN_URLS: { path: 'media.turn.urls', kind: 'csv' },
  SFU_TURN_SECRET: { path: 'media.turn.secret', kind: 'string' },
  SFU_TURN_TTL_SECONDS: { path: 'media.turn.ttlSeconds', kind: 'int' },
  SFU_INITIAL_OUTGOING_BITRATE: { path: 'media.initialAvailableOutgoingBitrate', kind: 'int' },
  SFU_MAX_INCOMING_BITRATE: { path: 'media.maxIncomingBitrate', kind: 'int' },
  SFU_MAX_OUTGOING_BITRATE: { path: 'media.maxOutgoingBitrate', kind: 'int' },
  SFU_FRAME_RATE_FIRST: { path: 'media.frameRateFirst', kind: 'boolean' },
  SFU_VIDEO_PUBLISHING: { path: 'media.videoPublishing', kind: 'string' },
  SFU_BITRATE_SAMPLE_SECONDS: { path: 'media.bitrateSampleSeconds', kind: 'number' },
  SFU_MAX_MESSAGE_BYTES: { path: 'signalling.maxMessageBytes', kind: 'int' },
  SFU_PING_INTERVAL_SECONDS: { path: 'signalling.pingIntervalSeconds', kind: 'number' },
  SFU_RATE_LIMIT_PER_SECOND: { path: 'signalling.rateLimit.requestsPerSecond', kind: 'number' },
  SFU_RATE_LIMIT_BURST: { path: 'signalling.rateLimit.burst', kind: 'int' },
  SFU_RATE_LIMIT_MAX_REFUSALS: { path: 'signalling.rateLimit.maxRefusals', kind: 'int' },
  SFU_RATE_LIMIT_REFUSAL_WINDOW_SECONDS: { path: 'signalling.rateLimit.refusalWindowSeconds', kind: 'number' },
  SFU_RATE_LIMIT_COOLDOWN_SECONDS: { path: 'signalling.rateLimit.cooldownSeconds', kind: 'number' },
  SFU_AUDIT_RATE_LIMIT_PER_SECOND: { path: 'signalling.auditRateLimit.requestsPerSecond', kind: 'number' },
  SFU_AUDIT_RATE_LIMIT_BURST: { path: 'signalling.auditRateLimit.burst', kind: 'int' },
  SFU_MAX_QUEUED_REQUESTS: { path: 'signalling.maxQueuedRequests', kind: 'int' },
  SFU_MAX_REFUSED_JOINS: { path: 'signalling.maxRefusedJoins', kind: 'int' },
  SFU_MAX_UNJOINED_PER_TOKEN: { path: 'signalling.maxUnjoinedPerToken', kind: 'int' },
  SFU_JOIN_TIMEOUT_SECONDS: { path: 'signalling.joinTimeoutSeconds', kind: 'number' },
  SFU_MAX_BUFFERED_BYTES: { path: 'signalling.maxBufferedBytes', kind: 'int' },
  SFU_MAX_PARTICIPANTS: { path: 'rooms.maxParticipants', kind: 'int' },
  SFU_E2EE_MODE: { path: 'e2ee.mode', kind: 'string' },
  SFU_ROOM_STEP_TIMEOUT_SECONDS: { path: 'rooms.stepTimeoutSeconds', kind: 'number' },
  SFU_RECONNECT_GRACE_SECONDS: { path: 'signalling.reconnectGraceSeconds', kind: 'number' },
  SFU_DRAIN_TIMEOUT_SECONDS: { path: 'drain.timeoutSeconds', kind: 'number' },
  SFU_STORE_URL: { path: 'store.url', kind: 'string' },
  SFU_REVOCATION_SYNC_SECONDS: { path: 'store.revocationSyncSeconds', kind: 'number' },
  SFU_STORE_CALL_TIMEOUT_MS: { path: 'store.callTimeoutMs', kind: 'int' },
  SFU_STORE_SQLITE_BUSY_TIMEOUT_MS: { path: 'store.sqliteBusyTimeoutMs', kind: 'int' },
  SFU_RECORDS_KEYS: { path: 'records.keys', kind: 'json' },
  SFU_RETENTION_YEARS: { path: 'records.retentionYears', kind: 'number' },
  SFU_CONSENT_POLICY_VERSIONS: { path: 'consent.policyVersions', kind: 'csv' },
  SFU_SELF_CONSENT_ROOMS: { path: 'consent.selfConsentRooms', kind: 'csv' },
  SFU_FORWARDING_OPEN_ROOMS: { path: 'forwarding.openRooms', kind: 'csv' },
  SFU_PANIC_TIERS: { path: 'safety.tiers', kind: 'json' },
  SFU_PANIC_WEBHOOKS: { path: 'safety.webhooks', kind: 'json' },
  SFU_SAFETY_CONNECT_TIMEOUT_SECONDS: { path: 'safety.socket.connectTimeoutSeconds', kind: 'number' },
  SFU_SAFETY_MAX_MESSAGE_BYTES: { path: 'safety.socket.maxMessageBytes', kind: 'int' },
  SFU_SAFETY_PING_INTERVAL_SECONDS: { path: 'safety.socket.pingIntervalSeconds', kind: 'number' },
  SFU_SAFETY_PING_TIMEOUT_SECONDS: { path: 'safety.socket.pingTimeoutSeconds', kind: 'number' },
  SFU_SAFETY_EVENTS_PER_SECOND: { path: 'safety.socket.eventsPerSecond', kind: 'number' },
  SFU_SAFETY_EVENT_BURST: { path: 'safety.socket.eventBurst', kind: 'int' },
  SFU_SAFETY_MAX_SOCKETS_PER_IDENTITY: { path: 'safety.socket.maxSocketsPerIdentity', kind: 'int' },
  SFU_PANIC_MAX_OPEN_PER_PARTICIPANT: { path: 'safety.maxOpenIncidentsPerParticipant', kind: 'int' },
  SFU_PANIC_STORE_DEADLINE_MS: { path: 'safety.storeDeadlineMs', kind: 'int' },
  SFU_REDIS_URL: { path: 'cluster.redisUrl', kind: 'string' },
  SFU_NODE_ID: { path: 'cluster.nodeId', kind: 'string' },
  SFU_REDIS_CALL_TIMEOUT_MS: { path: 'cluster.redisCallTimeoutMs', kind: 'int' },
  SFU_REDIS_CONNECT_TIMEOUT_MS: { path: 'cluster.redisConnectTimeoutMs', kind: 'int' },
  SFU_REDIS_PROBE_INTERVAL_MS: { path: 'cluster.redisProbeIntervalMs', kind: 'int' },
  SFU_REDIS_KEY_PREFIX: { path: 'cluster.redisKeyPrefix', kind: 'string' },
  SFU_CLUSTER_PUBLIC_URL: { path: 'cluster.publicUrl', kind: 'string' },
  SFU_PRESENCE_INTERVAL_MS: { path: 'cluster.presenceIntervalMs', kind: 'int' },
  SFU_PRESENCE_TTL_MS: { path: 'cluster.presenceTtlMs', kind: 'int' },
  SFU_PLACEMENT_LEASE_MS: { path: 'cluster.placementLeaseMs', kind: 'int' },
  SFU_ESCALATION_LEASE_MS: { path: 'cluster.escalationLeaseMs', kind: 'int' },
};

/**
 * Variables that may instead name a file holding the value (`SFU_JWT_SECRET_FILE=/run/secrets/jwt`,
 * the convention of Docker and Compose secrets): the file is read and trimmed, and the value never
 * has to sit in the environment. Setting both a variable and its `_FILE` is refused.
 */
export const FILE_VARS = ['SFU_JWT_SECRET', 'SFU_ADMIN_TOKEN', 'SFU_TURN_SECRET', 'SFU_RECORDS_KEYS', 'SFU_STORE_URL', 'SFU_REDIS_URL', 'SFU_PANIC_WEBHOOKS'] as const;

/** Whether the server reads this variable: an ENV_VARS name, the `_FILE` form of a FILE_VARS one, or SFU_CONFIG. */
export function isServerVariable(name: string): boolean {
  return name in ENV_VARS || name === 'SFU_CONFIG' || (name.endsWith('_FILE') && (FILE_VARS as readonly string[]).includes(name.slice(0, -'_FILE'.length)));
}

export function parseEnvValue(name: string, kind: EnvKind, raw: string): unknown {
  return PARSERS[kind](name, raw);
}

/** A decimal number as an operator writes one (`30`, `0.5`, `-1`, `1e3`): not `0x10`, `Infinity` or blank. */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

const PARSERS: Record<EnvKind, (name: string, raw: string) => unknown> = {
  string: (_name, raw) => raw,
  int: (name, raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`${name} must be an integer, got "${raw}"`);
    return Number.parseInt(raw, 10);
  },
  number: (name, raw) => {
    const n = Number(raw.trim());
    if (!DECIMAL.test(raw.trim()) || !Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
    return n;
  },
  boolean: (name, raw) => {
    const v = raw.trim().toLowerCase();
    if (v !== 'true' && v !== 'false') throw new Error(`${name} must be true or false, got "${raw}"`);
    return v === 'true';
  },
  csv: (_name, raw) => raw.split(',').map((s) => s.trim()).filter(Boolean),
  // Never the value in the message: a JSON variable may carry secrets (records keys, webhook secrets).
  json: (name, raw) => {
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error(`${name} must be JSON (the value is not shown: it may hold a secret)`);
    }
  },
};

/** The variable that sets a config path, or that sets the array or object holding it (`safety.webhooks.0.secret`: SFU_PANIC_WEBHOOKS). */
export function variableFor(path: string): string | undefined {
  let best: string | undefined;
  let bestLength = 0;
  for (const [name, v] of Object.entries(ENV_VARS)) {
    if ((path === v.path || path.startsWith(`${v.path}.`)) && v.path.length > bestLength) {
      best = name;
      bestLength = v.path.length;
    }
  }
  return best;
}

/** SFU_* variables read by the set-up, the tests and the benches, not by the server: never warned about. */
const TOOL_VARS = new Set(['SFU_CACHE_DIR', 'SFU_SETUP_LOCK_TIMEOUT', 'SFU_WORKER_BUILD_CMD', 'SFU_WORKER_BUILD_OUT', 'SFU_CHROMIUM_BIN',
  'SFU_FIREFOX_BIN', 'SFU_SCREENSHOTS', 'SFU_E2EE_TAP_DUMP']);

/**
 * SFU_* variables set in `env` that neither the server nor its tools read (a misspelt `SFU_WORKER`
 * for `SFU_WORKERS` would otherwise be ignored without a word), each with the closest variable the
 * server reads when one is a typo away. Names only: never a value.
 */
export function unreadVariables(env: NodeJS.ProcessEnv): { name: string; suggestion?: string }[] {
  const known = [...Object.keys(ENV_VARS), 'SFU_CONFIG', ...FILE_VARS.map((n) => `${n}_FILE`)];
  return Object.keys(env)
    .filter((name) => name.startsWith('SFU_') && !isServerVariable(name) && !TOOL_VARS.has(name) && !name.startsWith('SFU_TEST_') && !name.startsWith('SFU_BENCH_'))
    .sort()
    .map((name) => {
      const best = known.map((k) => ({ k, d: editDistance(name, k) })).sort((a, b) => a.d - b.d)[0];
      return best && best.d <= 2 ? { name, suggestion: best.k } : { name };
    });
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
