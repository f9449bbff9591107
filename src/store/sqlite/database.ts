import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { statementCache } from './statements.ts';
import type { FieldCipher } from '../cipher.ts';
import { GENESIS_HASH, entryHash } from '../audit-chain.ts';
import {
  CHECKPOINT_SQL, CheckpointSigner, HEAD_STATE_SQL, KnownHead, MISMATCH_ENTRY, checkpointFromRow, headStateFromRow, headStatus, newTxHead,
  planAppend, upsertCheckpointSql, verifyTrail, type TxHead,
} from '../audit-head.ts';
import { consentFromRow, consentGrantRow, consentGrantedDetail, locationFromRow, locationRow, withdrawalRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type {
  AdmissionRecord, AuditCheckpoint, ConsentGrantRecord, AuditEntry, AuditHeadStatus, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, WithdrawalRecord,
} from '../types.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { SqliteIncidents } from './sqlite-incidents.ts';

type Row = Record<string, SQLInputValue>;

const UPSERT_CHECKPOINT = upsertCheckpointSql(() => '?');

/**
 * The embedded store's database: one SQLite file through node:sqlite, WAL with synchronous=FULL,
 * so a write has reached the disk when it returns. Every write and its audit entry share one
 * transaction. Synchronous: it runs in the store's worker thread (worker.ts), never on the event
 * loop; SqliteStore (sqlite-store.ts) is the asynchronous face the rest of the server sees.
 */
export class SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #sql: (sql: string) => StatementSync;
  readonly #cipher: FieldCipher;
  readonly #signer: CheckpointSigner;
  readonly #busyTimeoutMs: number;
  #busySet = -1;
  /** The current request's deadline (Date.now()): a transaction that reaches it before COMMIT is rolled back. */
  #deadline = Number.POSITIVE_INFINITY;
  /** Until then (Date.now()), writes fail at once with SQLITE_BUSY: a write just waited out the whole busy timeout (see #begin). */
  #lockedUntil = 0;
  /** Audit state of the open write transaction (see TxHead). */
  #txHead: TxHead | undefined;
  /** The highest head checkpoint this process wrote or read since it started. */
  readonly #known = new KnownHead();
  /** Panic incidents, in the same database and audit chain. */
  readonly incidents: SqliteIncidents;

  constructor(file: string, cipher: FieldCipher, opts: { busyTimeoutMs: number }) {
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Created readable by its owner only (identities, roles and the audit trail are in clear);
      // SQLite gives its -wal and -shm files the database file's mode.
      closeSync(openSync(file, 'a', 0o600));
    }
    this.#db = new DatabaseSync(file);
    this.#sql = statementCache(this.#db);
    this.#busyTimeoutMs = opts.busyTimeoutMs;
    this.#busySet = opts.busyTimeoutMs;
    this.#db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;`);
    this.#cipher = cipher;
    this.#signer = new CheckpointSigner(cipher);
    this.incidents = new SqliteIncidents(this.#db, (fn) => this.#tx(fn), (...a) => this.#appendAudit(...a), cipher);
  }

  migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const done = new Set(this.#sql('SELECT version FROM schema_migrations').all().map((r) => Number(r.version)));
    for (const m of SQLITE_MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.#tx(() => {
        this.#db.exec(m.sql);
        if (m.adoptAuditHead) this.#adoptHead();
        this.#sql('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
      });
    }
  }

  /**
   * Called before each request with its deadline (Date.now() by which it must be done): how long
   * SQLite waits for another connection's lock becomes the configured busy timeout, cut to what is
   * left of the deadline. A write lock held elsewhere (another process in BEGIN IMMEDIATE) then
   * fails the request with SQLITE_BUSY in bounded time instead of stalling every request queued
   * behind it.
   */
  beginRequest(deadline: number): void {
    this.#deadline = deadline;
    const left = Math.max(0, Math.floor(deadline - Date.now()));
    const ms = Math.min(this.#busyTimeoutMs, left);
    if (ms !== this.#busySet) {
      this.#db.exec(`PRAGMA busy_timeout = ${ms}`);
      this.#busySet = ms;
    }
  }

  /** A write transaction; the audit head checkpoint is signed and written in it, before COMMIT, when it appended. */
  #tx<T>(fn: () => T): T {
    // A transaction left open by a ROLLBACK that failed (see #rollback) is ended first.
    if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
    this.#begin();
    const audit = newTxHead();
    this.#txHead = audit;
    try {
      const out = fn();
      // Its caller has been told STORE_UNAVAILABLE already: it must not commit now.
      if (Date.now() >= this.#deadline) throw Object.assign(new Error('the request reached its deadline before COMMIT: rolled back'), { expired: true });
      const cp = this.#signHead(audit);
      this.#db.exec('COMMIT');
      this.#known.note(cp);
      return out;
    } catch (err) {
      this.#rollback(err);
      throw err;
    } finally {
      this.#txHead = undefined;
    }
  }

  /**
   * BEGIN IMMEDIATE: takes the write lock, waiting for another connection's at most the busy
   * timeout. After a wait of the whole busy timeout ended in SQLITE_BUSY, the next writes within
   * one more busy timeout fail at once with SQLITE_BUSY instead of each waiting in turn (the thread
   * runs one request at a time: reads and the requests behind them are not held up by a lock
   * someone else keeps for seconds).
   */
  #begin(): void {
    if (Date.now() < this.#lockedUntil) {
      throw Object.assign(new Error('database is locked (another connection held the write lock through the last busy timeout)'), {
        code: 'ERR_SQLITE_ERROR', errcode: 5, errstr: 'database is locked',
      });
    }
    const started = Date.now();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      const waited = Date.now() - started;
      if (((err as { errcode?: number }).errcode ?? 0) % 256 === 5 && this.#busySet > 0 && waited >= this.#busyTimeoutMs) {
        this.#lockedUntil = Date.now() + this.#busyTimeoutMs;
      }
      throw err;
    }
  }

  /**
   * Ends a failed transaction without hiding why it failed. On some errors (SQLITE_FULL,
   * SQLITE_IOERR, SQLITE_NOMEM, a failed COMMIT) SQLite has already rolled the transaction back
   * itself, and a ROLLBACK then fails with "cannot rollback - no transaction is active": that
   * message used to replace the real error (a full disk) in the log. The caller always gets the
   * original error; a ROLLBACK that fails is noted on it.
   */
  #rollback(err: unknown): void {
    if (!this.#db.isTransaction) return;
    try {
      this.#db.exec('ROLLBACK');
    } catch (rb) {
      if (err && typeof err === 'object') (err as { rollbackError?: string }).rollbackError = rb instanceof Error ? rb.message : String(rb);
    }
  }

  /**
   * The head this transaction appends after: read once (newest entry and checkpoint together), then
   * kept while the transaction holds the write lock. When the trail does not reach the checkpoint,
   * a CHECKPOINT_MISMATCH entry is appended first, so the evidence outlives the next checkpoint.
   */
  #head(): TxHead {
    const t = this.#txHead;
    if (!t) throw new Error('audit append outside a write transaction');
    if (!t.loaded) {
      t.loaded = true;
      const plan = planAppend(headStateFromRow(this.#sql(HEAD_STATE_SQL).get()), this.#signer);
      t.head = plan.link;
      if (plan.mismatch) this.#insertEntry(t, MISMATCH_ENTRY.room, MISMATCH_ENTRY.kind, MISMATCH_ENTRY.actor, plan.mismatch, new Date());
    }
    return t;
  }

  #insertEntry(t: TxHead, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): void {
    const e = { seq: (t.head?.seq ?? 0) + 1, at: at.toISOString(), room, kind, actor, detail: JSON.stringify(detail), prevHash: t.head?.hash ?? GENESIS_HASH };
    const hash = entryHash(e);
    this.#sql('INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.seq, e.at, e.room, e.kind, e.actor, e.detail, e.prevHash, hash);
    t.head = { seq: e.seq, hash };
    t.dirty = true;
  }

  #appendAudit(room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): void {
    this.#insertEntry(this.#head(), room, kind, actor, detail, at);
  }

  #signHead(t: TxHead): AuditCheckpoint | undefined {
    if (!t.dirty || !t.head) return undefined;
    const cp = this.#signer.sign(t.head, new Date());
    this.#sql(UPSERT_CHECKPOINT).run(cp.seq, cp.hash, cp.at, cp.keyId, cp.mac);
    return cp;
  }

  /** First checkpoint of a trail written before checkpoints existed: its newest entry, as found. */
  #adoptHead(): void {
    const last = this.#sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    if (!last) return;
    const cp = this.#signer.sign({ seq: Number(last.seq), hash: String(last.hash) }, new Date());
    this.#sql(UPSERT_CHECKPOINT).run(cp.seq, cp.hash, cp.at, cp.keyId, cp.mac);
  }

  /** Reads in one snapshot (a deferred read transaction), so that a writer on another connection cannot commit in between. */
  #snapshot<T>(fn: () => T): T {
    if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
    this.#db.exec('BEGIN');
    try {
      return fn();
    } finally {
      if (this.#db.isTransaction) this.#db.exec('COMMIT');
    }
  }

  #insertConsent(sessionId: string, r: ConsentRow): void {
    this.#sql(`INSERT INTO consents (session_id, kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(sessionId, r.kind, r.policy_version, r.scopes, r.relation, r.granted_by_name_enc, r.method, r.attested_by, r.at);
  }

  #insertLocation(sessionId: string, r: LocationRow): void {
    this.#sql('INSERT INTO locations (session_id, source, data_enc, captured_at, recorded_at) VALUES (?, ?, ?, ?, ?)')
      .run(sessionId, r.source, r.data_enc, r.captured_at, r.recorded_at);
  }

  recordAdmission(r: AdmissionRecord): void {
    const at = r.at.toISOString();
    this.#tx(() => {
      this.#sql('INSERT INTO sessions (session_id, room, identity, role, joined_at, remote_address_enc) VALUES (?, ?, ?, ?, ?, ?)')
        .run(r.sessionId, r.room, r.identity, r.role, at, this.#cipher.seal(r.remoteAddress));
      this.#insertLocation(r.sessionId, locationRow(r.location, at, this.#cipher));
      const base = { sessionId: r.sessionId, identity: r.identity, role: r.role };
      this.#appendConsentGranted(r, at);
      this.#appendAudit(r.room, 'location.recorded', r.identity, { ...base, source: r.location.source }, r.at);
      this.#appendAudit(r.room, 'admission.granted', r.identity, base, r.at);
    });
  }

  /** The consent grant row and its `consent.granted` entry: the admission's consent and a consent granted again alike. */
  #appendConsentGranted(r: ConsentGrantRecord, at: string): void {
    this.#insertConsent(r.sessionId, consentGrantRow(r.consent, at, this.#cipher));
    this.#appendAudit(r.room, 'consent.granted', r.identity, consentGrantedDetail(r), r.at);
  }

  recordConsent(r: ConsentGrantRecord): void {
    this.#tx(() => this.#appendConsentGranted(r, r.at.toISOString()));
  }

  recordRefusal(r: RefusalRecord): void {
    this.#tx(() => this.#appendAudit(r.room, 'admission.refused', r.identity, { identity: r.identity, role: r.role, code: r.code }, r.at));
  }

  recordWithdrawal(r: WithdrawalRecord): void {
    this.#tx(() => {
      this.#insertConsent(r.sessionId, withdrawalRow(r.scopes, r.at.toISOString()));
      this.#appendAudit(r.room, 'consent.withdrawn', r.identity, { sessionId: r.sessionId, identity: r.identity, scopes: r.scopes }, r.at);
    });
  }

  recordLocation(r: LocationUpdateRecord): void {
    this.#tx(() => {
      this.#insertLocation(r.sessionId, locationRow(r.location, r.at.toISOString(), this.#cipher));
      this.#appendAudit(r.room, 'location.recorded', r.identity, { sessionId: r.sessionId, identity: r.identity, source: r.location.source }, r.at);
    });
  }

  latestLocation(sessionId: string): Location | undefined {
    const row = this.#sql('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = ? ORDER BY id DESC LIMIT 1')
      .get(sessionId) as LocationRow | undefined;
    if (!row) return undefined;
    const { recordedAt: _r, ...location } = locationFromRow(row, this.#cipher);
    return location;
  }

  recordRevocation(r: RevocationRecord): void {
    this.#tx(() => {
      this.#sql('INSERT INTO revocations (room, identity, token_id, until, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(r.room, r.identity ?? null, r.tokenId ?? null, r.until.toISOString(), r.reason, r.actor, r.at.toISOString());
      this.#appendAudit(r.room, 'access.revoked', r.actor, { identity: r.identity ?? null, tokenId: r.tokenId ?? null, until: r.until.toISOString() }, r.at);
    });
  }

  activeRevocations(now: Date): RevocationRecord[] {
    const rows = this.#sql('SELECT room, identity, token_id, until, reason, actor, at FROM revocations WHERE until > ?').all(now.toISOString()) as Row[];
    return rows.map((r) => ({
      room: String(r.room), identity: (r.identity as string | null) ?? undefined, tokenId: (r.token_id as string | null) ?? undefined,
      until: new Date(String(r.until)), reason: String(r.reason), actor: String(r.actor), at: new Date(String(r.at)),
    }));
  }

  audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): void {
    this.#tx(() => this.#appendAudit(e.room, e.kind, e.actor, e.detail, e.at));
  }

  participants(room: string): ParticipantRecords[] {
    const sessions = this.#sql('SELECT session_id, identity, role, joined_at FROM sessions WHERE room = ? ORDER BY joined_at, session_id').all(room) as Row[];
    return sessions.map((s) => this.#records(s));
  }

  sessionRecords(room: string, sessionId: string): ParticipantRecords | undefined {
    const s = this.#sql('SELECT session_id, identity, role, joined_at FROM sessions WHERE session_id = ? AND room = ?').get(sessionId, room) as Row | undefined;
    return s ? this.#records(s) : undefined;
  }

  /** A session row with its consents and locations, in record order. */
  #records(s: Row): ParticipantRecords {
    const id = String(s.session_id);
    const consents = this.#sql('SELECT kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at FROM consents WHERE session_id = ? ORDER BY id').all(id) as unknown as ConsentRow[];
    const locations = this.#sql('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = ? ORDER BY id').all(id) as unknown as LocationRow[];
    return {
      sessionId: id, identity: String(s.identity), role: String(s.role) as ParticipantRecords['role'], joinedAt: String(s.joined_at),
      consents: consents.map((c) => consentFromRow(c, this.#cipher)),
      locations: locations.map((l) => locationFromRow(l, this.#cipher)),
    };
  }

  auditTrail(room?: string): AuditEntry[] {
    return this.#trail(room);
  }

  #trail(room?: string): AuditEntry[] {
    const sql = 'SELECT seq, at, room, kind, actor, detail, prev_hash, hash FROM audit';
    const rows = (room === undefined ? this.#sql(`${sql} ORDER BY seq`).all() : this.#sql(`${sql} WHERE room = ? ORDER BY seq`).all(room)) as Row[];
    return rows.map((r) => ({
      seq: Number(r.seq), at: String(r.at), room: String(r.room), kind: String(r.kind), actor: String(r.actor),
      detail: String(r.detail), prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  verifyAudit(): AuditVerification {
    const { entries, checkpoint } = this.#snapshot(() => ({ entries: this.#trail(), checkpoint: checkpointFromRow(this.#sql(CHECKPOINT_SQL).get()) }));
    this.#known.note(checkpoint, true);
    return verifyTrail(entries, checkpoint, this.#signer);
  }

  auditHead(): AuditHeadStatus {
    const state = headStateFromRow(this.#sql(HEAD_STATE_SQL).get());
    this.#known.note(state.checkpoint, true);
    return headStatus(state, this.#signer);
  }

  auditHeadPosition(): number | undefined {
    return this.#known.position;
  }

  applyRetention(cutoff: Date, actor: string): { sessions: number; auditEntries: number } {
    const iso = cutoff.toISOString();
    return this.#tx(() => {
      // The head before the cut: if the cut takes every entry, the retention entry still links to it.
      this.#head();
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

  /**
   * The readiness probe: a one-row write transaction on store_probe, committed and synced like a
   * record. Fails when the database cannot take a write now: disk full (SQLITE_FULL), write lock
   * held elsewhere beyond the busy timeout (SQLITE_BUSY), I/O errors, a read-only file.
   */
  probe(): void {
    this.#tx(() => {
      this.#sql('INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at').run(new Date().toISOString());
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
