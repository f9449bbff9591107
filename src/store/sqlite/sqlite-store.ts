import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { statementCache } from './statements.ts';
import type { FieldCipher } from '../cipher.ts';
import { GENESIS_HASH, entryHash, verifyChain } from '../audit-chain.ts';
import { consentFromRow, consentGrantRow, locationFromRow, locationRow, withdrawalRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type {
  AdmissionRecord, AuditEntry, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, Store, WithdrawalRecord,
} from '../types.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { SqliteIncidentStore } from './sqlite-incidents.ts';
import type { IncidentStore } from '../../safety/panic/types.ts';

type Row = Record<string, SQLInputValue>;

/**
 * The embedded store: one SQLite file through node:sqlite, WAL with synchronous=FULL, so a
 * write has reached the disk when its promise resolves. Every write and its audit entry share
 * one transaction.
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #sql: (sql: string) => StatementSync;
  readonly #cipher: FieldCipher;
  /** Panic incidents, in the same database and audit chain. */
  readonly incidents: IncidentStore;

  constructor(file: string, cipher: FieldCipher) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(file);
    this.#sql = statementCache(this.#db);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.#cipher = cipher;
    this.incidents = new SqliteIncidentStore(this.#db, (fn) => this.#tx(fn), (...a) => this.#appendAudit(...a), cipher);
  }

  async migrate(): Promise<void> {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const done = new Set(this.#sql('SELECT version FROM schema_migrations').all().map((r) => Number(r.version)));
    for (const m of SQLITE_MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.#tx(() => {
        this.#db.exec(m.sql);
        this.#sql('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
      });
    }
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #appendAudit(room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): void {
    const last = this.#sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    const e = { seq: (last?.seq ?? 0) + 1, at: at.toISOString(), room, kind, actor, detail: JSON.stringify(detail), prevHash: last?.hash ?? GENESIS_HASH };
    this.#sql('INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.seq, e.at, e.room, e.kind, e.actor, e.detail, e.prevHash, entryHash(e));
  }

  #insertConsent(sessionId: string, r: ConsentRow): void {
    this.#sql(`INSERT INTO consents (session_id, kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(sessionId, r.kind, r.policy_version, r.scopes, r.relation, r.granted_by_name_enc, r.method, r.attested_by, r.at);
  }

  #insertLocation(sessionId: string, r: LocationRow): void {
    this.#sql('INSERT INTO locations (session_id, source, data_enc, captured_at, recorded_at) VALUES (?, ?, ?, ?, ?)')
      .run(sessionId, r.source, r.data_enc, r.captured_at, r.recorded_at);
  }

  async recordAdmission(r: AdmissionRecord): Promise<void> {
    const at = r.at.toISOString();
    this.#tx(() => {
      this.#sql('INSERT INTO sessions (session_id, room, identity, role, joined_at, remote_address_enc) VALUES (?, ?, ?, ?, ?, ?)')
        .run(r.sessionId, r.room, r.identity, r.role, at, this.#cipher.seal(r.remoteAddress));
      this.#insertConsent(r.sessionId, consentGrantRow(r.consent, at, this.#cipher));
      this.#insertLocation(r.sessionId, locationRow(r.location, at, this.#cipher));
      const base = { sessionId: r.sessionId, identity: r.identity, role: r.role };
      this.#appendAudit(r.room, 'consent.granted', r.identity, {
        ...base, policyVersion: r.consent.policyVersion, scopes: r.consent.scopes, relation: r.consent.grantedBy.relation,
        method: r.consent.method, attestedBy: r.consent.attestedBy ?? null,
      }, r.at);
      this.#appendAudit(r.room, 'location.recorded', r.identity, { ...base, source: r.location.source }, r.at);
      this.#appendAudit(r.room, 'admission.granted', r.identity, base, r.at);
    });
  }

  async recordRefusal(r: RefusalRecord): Promise<void> {
    this.#tx(() => this.#appendAudit(r.room, 'admission.refused', r.identity, { identity: r.identity, role: r.role, code: r.code }, r.at));
  }

  async recordWithdrawal(r: WithdrawalRecord): Promise<void> {
    this.#tx(() => {
      this.#insertConsent(r.sessionId, withdrawalRow(r.scopes, r.at.toISOString()));
      this.#appendAudit(r.room, 'consent.withdrawn', r.identity, { sessionId: r.sessionId, identity: r.identity, scopes: r.scopes }, r.at);
    });
  }

  async recordLocation(r: LocationUpdateRecord): Promise<void> {
    this.#tx(() => {
      this.#insertLocation(r.sessionId, locationRow(r.location, r.at.toISOString(), this.#cipher));
      this.#appendAudit(r.room, 'location.recorded', r.identity, { sessionId: r.sessionId, identity: r.identity, source: r.location.source }, r.at);
    });
  }

  async latestLocation(sessionId: string): Promise<Location | undefined> {
    const row = this.#sql('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = ? ORDER BY id DESC LIMIT 1')
      .get(sessionId) as LocationRow | undefined;
    if (!row) return undefined;
    const { recordedAt: _r, ...location } = locationFromRow(row, this.#cipher);
    return location;
  }

  async recordRevocation(r: RevocationRecord): Promise<void> {
    this.#tx(() => {
      this.#sql('INSERT INTO revocations (room, identity, token_id, until, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(r.room, r.identity ?? null, r.tokenId ?? null, r.until.toISOString(), r.reason, r.actor, r.at.toISOString());
      this.#appendAudit(r.room, 'access.revoked', r.actor, { identity: r.identity ?? null, tokenId: r.tokenId ?? null, until: r.until.toISOString() }, r.at);
    });
  }

  async activeRevocations(now: Date): Promise<RevocationRecord[]> {
    const rows = this.#sql('SELECT room, identity, token_id, until, reason, actor, at FROM revocations WHERE until > ?').all(now.toISOString()) as Row[];
    return rows.map((r) => ({
      room: String(r.room), identity: (r.identity as string | null) ?? undefined, tokenId: (r.token_id as string | null) ?? undefined,
      until: new Date(String(r.until)), reason: String(r.reason), actor: String(r.actor), at: new Date(String(r.at)),
    }));
  }

  async audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): Promise<void> {
    this.#tx(() => this.#appendAudit(e.room, e.kind, e.actor, e.detail, e.at));
  }

  async participants(room: string): Promise<ParticipantRecords[]> {
    const sessions = this.#sql('SELECT session_id, identity, role, joined_at FROM sessions WHERE room = ? ORDER BY joined_at, session_id').all(room) as Row[];
    return sessions.map((s) => {
      const id = String(s.session_id);
      const consents = this.#sql('SELECT kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at FROM consents WHERE session_id = ? ORDER BY id').all(id) as unknown as ConsentRow[];
      const locations = this.#sql('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = ? ORDER BY id').all(id) as unknown as LocationRow[];
      return {
        sessionId: id, identity: String(s.identity), role: String(s.role) as ParticipantRecords['role'], joinedAt: String(s.joined_at),
        consents: consents.map((c) => consentFromRow(c, this.#cipher)),
        locations: locations.map((l) => locationFromRow(l, this.#cipher)),
      };
    });
  }

  async auditTrail(room?: string): Promise<AuditEntry[]> {
    const sql = 'SELECT seq, at, room, kind, actor, detail, prev_hash, hash FROM audit';
    const rows = (room === undefined ? this.#sql(`${sql} ORDER BY seq`).all() : this.#sql(`${sql} WHERE room = ? ORDER BY seq`).all(room)) as Row[];
    return rows.map((r) => ({
      seq: Number(r.seq), at: String(r.at), room: String(r.room), kind: String(r.kind), actor: String(r.actor),
      detail: String(r.detail), prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  async verifyAudit(): Promise<AuditVerification> {
    return verifyChain(await this.auditTrail());
  }

  async applyRetention(cutoff: Date, actor: string): Promise<{ sessions: number; auditEntries: number }> {
    const iso = cutoff.toISOString();
    return this.#tx(() => {
      const sessions = Number(this.#sql('DELETE FROM sessions WHERE joined_at < ?').run(iso).changes);
      this.#sql('DELETE FROM revocations WHERE until < ?').run(iso);
      // Resolved incidents raised before the cutoff (open ones are kept whatever their age).
      const old = this.#sql(`SELECT id FROM incidents WHERE raised_at < ? AND id IN (SELECT incident_id FROM incident_events WHERE type = 'resolved')`)
        .all(iso).map((r) => String(r.id));
      for (const table of ['webhook_attempts', 'incident_events']) {
        const del = this.#sql(`DELETE FROM ${table} WHERE incident_id = ?`);
        for (const id of old) del.run(id);
      }
      const delIncident = this.#sql('DELETE FROM incidents WHERE id = ?');
      for (const id of old) delIncident.run(id);
      // Cut only the unbroken run of old entries at the start of the chain: an entry dated before
      // the cutoff but appended after a newer one is kept, and so is everything after it.
      const cut = this.#sql(`SELECT seq, hash FROM audit WHERE seq < COALESCE((SELECT MIN(seq) FROM audit WHERE at >= ?), (SELECT MAX(seq) + 1 FROM audit))
        ORDER BY seq DESC LIMIT 1`).get(iso) as { seq: number; hash: string } | undefined;
      let auditEntries = 0;
      if (cut) auditEntries = Number(this.#sql('DELETE FROM audit WHERE seq <= ?').run(cut.seq).changes);
      this.#appendAudit('*', 'retention.applied', actor, {
        cutoff: iso, sessions, auditEntries, deletedThroughSeq: cut?.seq ?? null, anchorHash: cut?.hash ?? null,
      }, new Date());
      return { sessions, auditEntries };
    });
  }

  async ping(): Promise<boolean> {
    this.#sql('SELECT 1').get();
    return true;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
