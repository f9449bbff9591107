/**
 * Coded errors. Every error a client or operator can see has a code listed here,
 * an HTTP status (used by the REST API and the WebSocket upgrade) and a line in
 * docs/errors.md (a test keeps the two in step).
 */
export const ERROR_CODES = {
  // Authentication and admission (HTTP 401/403/409 before the WebSocket upgrade, or in a join response)
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_ALGORITHM_NOT_ALLOWED: 401,
  TOKEN_CLAIMS_INVALID: 401,
  WRONG_ROOM: 403,
  IDENTITY_REVOKED: 403,
  DUPLICATE_IDENTITY: 409,
  RESUME_TOKEN_INVALID: 403,
  ROOM_FULL: 403,
  SERVER_DRAINING: 503,
  /** Several nodes (docs/scaling.md): the room is placed on another node; `data.url` is that node's public URL. */
  ROOM_ELSEWHERE: 421,
  // Consent and location (issue #3): refusals at join keep the socket open so the client can retry
  CONSENT_REQUIRED: 428,
  LOCATION_REQUIRED: 428,
  INVALID_CONSENT: 400,
  INVALID_LOCATION: 400,
  CONSENT_VERSION_OUTDATED: 409,
  CONSENT_WITHDRAWN: 403,
  /** Issue #15: `grantConsent` while `telehealth` consent is in force (nothing to grant again). */
  CONSENT_IN_FORCE: 409,
  STORE_UNAVAILABLE: 503,
  // End-to-end encryption (issue #16; docs/protocol.md, "End-to-end encryption")
  /** join: the token's E2EE mode (its `e2ee` claim, else `e2ee.mode`) differs from the mode the room was opened with. */
  E2EE_MODE_CONFLICT: 403,
  /** join without `e2ee.publicKey` in an encrypted room, or as the first participant of a `required` one. */
  E2EE_UNSUPPORTED: 403,
  /** join: `e2ee.publicKey` is not an uncompressed P-256 point in base64url (87 characters, 0x04 first). */
  E2EE_INVALID_KEY: 400,
  /** e2eeKeys in a room that is not end-to-end encrypted. */
  E2EE_NOT_ACTIVE: 409,
  /** e2eeKeys: the `to` of an entry is not a participant of the room (left, kicked, never there). */
  PARTICIPANT_NOT_FOUND: 404,
  // Panic channel (issue #4)
  INCIDENT_NOT_FOUND: 404,
  INCIDENT_OWNER_UNREACHABLE: 503,
  /** Issue #15: `panic:resolve` of an incident nobody acknowledged (without `acknowledge: true`). */
  INCIDENT_NOT_ACKNOWLEDGED: 409,
  // Protocol
  MESSAGE_TOO_LARGE: 413,
  /** An HTTP request (an upgrade included) whose headers exceed Node's 16 KiB: answered before any route runs. */
  HEADERS_TOO_LARGE: 431,
  /** An HTTP request not received whole within http.requestTimeoutSeconds. */
  HTTP_REQUEST_TIMEOUT: 408,
  MALFORMED_MESSAGE: 400,
  INVALID_REQUEST: 400,
  UNKNOWN_METHOD: 400,
  NOT_JOINED: 409,
  ALREADY_JOINED: 409,
  PERMISSION_DENIED: 403,
  TRANSPORT_NOT_FOUND: 404,
  TRANSPORT_LIMIT: 409,
  PRODUCER_NOT_FOUND: 404,
  CONSUMER_NOT_FOUND: 404,
  PRODUCER_LIMIT: 409,
  MEDIA_ERROR: 500,
  ROOM_CLOSED: 410,
  // Limits and backpressure (issue #11): request budgets, per-token connections
  RATE_LIMITED: 429,
  TOO_MANY_CONNECTIONS: 429,
  /** Seen only in records and metrics: the connection closed while its request was running. */
  CONNECTION_CLOSED: 410,
  // Admin REST
  ADMIN_UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What a coded error may carry for the client besides its message (e.g. ROOM_ELSEWHERE's `url`). */
export type ErrorData = Readonly<Record<string, string | number | boolean>>;

export class SfuError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly data: ErrorData | undefined;

  constructor(code: ErrorCode, message: string, data?: ErrorData) {
    super(message);
    this.name = 'SfuError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.data = data;
  }

  toJSON(): { code: ErrorCode; message: string; data?: ErrorData } {
    return { code: this.code, message: this.message, ...(this.data ? { data: this.data } : {}) };
  }
}

/** Turns anything thrown into a coded error; unknown failures become INTERNAL_ERROR (or `fallback`). */
export function toSfuError(err: unknown, fallback: ErrorCode = 'INTERNAL_ERROR'): SfuError {
  if (err instanceof SfuError) return err;
  return new SfuError(fallback, fallback === 'INTERNAL_ERROR' ? 'internal error' : errorMessage(err));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
