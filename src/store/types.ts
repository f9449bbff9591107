import type { Role } from '../domain/roles.ts';
import type { IncidentStore } from '../domain/incident.ts';

/** Who consented, to what, under which policy version (issue #3; docs/records.md). */
export interface Consent {
  readonly policyVersion: string;
  /** At least `telehealth`; `recording` is separate and optional. */
  readonly scopes: readonly string[];
  readonly grantedBy: { readonly relation: 'self' | 'guardian' | 'legal-representative'; readonly name: string };
  readonly method: 'electronic' | 'verbal-attested';
  /** The clinician identity who attests a verbal consent. */
  readonly attestedBy?: string | undefined;
}

/** Where the participant physically is now, how that was obtained, and whom to call. */
export interface Location {
  readonly description: string;
  /** ISO 3166-2, e.g. US-CA: licensure depends on it. */
  readonly region: string;
  readonly source: 'self-reported' | 'device-geolocation' | 'ip';
  readonly coordinates?: { readonly lat: number; readonly lon: number; readonly accuracyMeters?: number | undefined } | undefined;
  readonly capturedAt: string;
  readonly emergencyContact?: { readonly name: string; readonly phone: string } | undefined;
}

/** The durable record of one admission: written and committed before the join is answered. */
export interface AdmissionRecord {
  readonly sessionId: string;
  readonly room: string;
  readonly identity: string;
  readonly role: Role;
  readonly consent: Consent;
  readonly location: Location;
  readonly at: Date;
  readonly remoteAddress: string;
}

/**
 * A consent granted again within a session, after a `telehealth` withdrawal (`grantConsent`):
 * stored as a consent grant and audited as `consent.granted`, exactly like the admission's consent.
 */
export interface ConsentGrantRecord {
  readonly sessionId: string;
  readonly room: string;
  readonly identity: string;
  readonly role: Role;
  readonly consent: Consent;
  readonly at: Date;
}

export interface RefusalRecord {
  readonly room: string;
  readonly identity: string;
  readonly role: Role;
  readonly code: string;
  readonly at: Date;
}

export interface WithdrawalRecord {
  readonly sessionId: string;
  readonly room: string;
  readonly identity: string;
  readonly scopes: readonly string[];
  readonly at: Date;
}

export interface LocationUpdateRecord {
  readonly sessionId: string;
  readonly room: string;
  readonly identity: string;
  readonly location: Location;
  readonly at: Date;
}

export interface RevocationRecord {
  readonly room: string;
  readonly identity?: string | undefined;
  readonly tokenId?: string | undefined;
  readonly until: Date;
  readonly reason: string;
  readonly actor: string;
  readonly at: Date;
}

/** One audit entry; `hash` chains it to the previous entry. */
export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly room: string;
  readonly kind: string;
  readonly actor: string;
  /** JSON detail: ids, roles, scopes, codes; never a name, a location or a phone number. */
  readonly detail: string;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * The signed head checkpoint: the position (seq) and hash of the newest audit entry, with an
 * HMAC-SHA256 under a key derived from the records key `keyId` (src/store/audit-head.ts). It is
 * kept apart from the entries (table audit_head) and rewritten in the transaction of every append,
 * so deleting the newest entries leaves it pointing past the end of the trail.
 */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  /** When it was signed (ISO 8601). */
  readonly at: string;
  readonly keyId: string;
  /** hex HMAC-SHA256 over (seq, hash, at, keyId). */
  readonly mac: string;
}

/**
 * `brokenAt`: the first position where the trail fails: an entry that does not verify, or, where
 * entries were deleted from the end, the first missing position. `firstMissing`: the first
 * position known to be missing (deleted entries), when there is one.
 */
export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly checkpoint?: AuditCheckpoint | null }
  | {
    readonly ok: false; readonly entries: number; readonly brokenAt: number; readonly firstMissing?: number; readonly reason: string;
    readonly checkpoint?: AuditCheckpoint | null;
  };

/** The stored checkpoint and a cheap check that the trail's newest entry is the one it names. */
export type AuditHeadStatus =
  | { readonly ok: true; readonly checkpoint: AuditCheckpoint | null }
  | { readonly ok: false; readonly checkpoint: AuditCheckpoint | null; readonly brokenAt: number; readonly firstMissing?: number; readonly reason: string };

/** A participant's session with its records, decrypted, for the admin API. */
export interface ParticipantRecords {
  readonly sessionId: string;
  readonly identity: string;
  readonly role: Role;
  readonly joinedAt: string;
  readonly consents: readonly (Consent & { readonly kind: 'grant' | 'withdrawal'; readonly at: string })[];
  readonly locations: readonly (Location & { readonly recordedAt: string })[];
}

/**
 * The durable store of safety records. Every write is committed (and on SQLite fsynced)
 * before it resolves. One interface, two adapters: SQLite (embedded default) and PostgreSQL.
 */
export interface Store {
  /** Panic incidents, in the same database and audit chain. */
  readonly incidents: IncidentStore;
  /** Applies pending migrations. */
  migrate(): Promise<void>;
  recordAdmission(r: AdmissionRecord): Promise<void>;
  recordRefusal(r: RefusalRecord): Promise<void>;
  recordWithdrawal(r: WithdrawalRecord): Promise<void>;
  /** A consent granted again within the session (grantConsent): a consent grant row and its `consent.granted` entry. */
  recordConsent(r: ConsentGrantRecord): Promise<void>;
  recordLocation(r: LocationUpdateRecord): Promise<void>;
  latestLocation(sessionId: string): Promise<Location | undefined>;
  recordRevocation(r: RevocationRecord): Promise<void>;
  activeRevocations(now: Date): Promise<RevocationRecord[]>;
  /** A generic audit event (kick, panic, ...). */
  audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): Promise<void>;
  participants(room: string): Promise<ParticipantRecords[]>;
  /** One session's records (a session restored on another node): undefined when the room has no such session. Bounded like a write (store.callTimeoutMs), not like the admin reads. */
  sessionRecords(room: string, sessionId: string): Promise<ParticipantRecords | undefined>;
  auditTrail(room?: string): Promise<AuditEntry[]>;
  /** Verifies the whole hash chain and that it reaches the signed head checkpoint (nothing deleted from its end). */
  verifyAudit(): Promise<AuditVerification>;
  /** The signed head checkpoint, checked against the newest entry only (one query; verifyAudit checks everything). */
  auditHead(): Promise<AuditHeadStatus>;
  /** Position of the newest checkpoint this process wrote or read, without I/O (the sfu_audit_head_position gauge). */
  auditHeadPosition(): number | undefined;
  /** Deletes records older than the cutoff (the documented retention job) and audits that it did. */
  applyRetention(cutoff: Date, actor: string): Promise<{ sessions: number; auditEntries: number }>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
