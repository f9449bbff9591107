import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import { CHECKPOINT_SQL, CheckpointSigner, HEAD_STATE_SQL, KnownHead, checkpointFromRow, headStateFromRow, headStatus, verifyTrail } from '../audit-head.ts';
import { consentGrantRow, consentGrantedDetail, locationFromRow, locationRow, withdrawalRow, type LocationRow } from '../record-codec.ts';
import type {
  AdmissionRecord, ConsentGrantRecord, AuditEntry, AuditHeadStatus, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, Store, WithdrawalRecord,
} from '../types.ts';
import type { Incident, IncidentEvent, IncidentRaise, IncidentStore, WebhookAttempt } from '../../domain/incident.ts';
import { DEFAULT_TIMEOUTS, LONG_CALL_MS, Liveness, PROBE_TIMEOUT_MS, isNoAnswer, sharedProbe, withDeadline, type StoreTimeouts } from '../unavailable.ts';
import { classifyPostgresError } from './errors.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { PostgresIncidentStore } from './postgres-incidents.ts';
import { roomRecords, sessionRecords } from './session-records.ts';
import { MIGRATION_LOCK, PgTransactions, long, poolTimeouts } from './transactions.ts';

export { poolTimeouts };
export type { AppendAudit, Tx } from './transactions.ts';

/** A consent row (session id $1, the ConsentRow's 8 columns from $from). */
const CONSENT_INSERT = (from: number) => `INSERT INTO consents (session_id, kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at)
  VALUES ($1, ${Array.from({ length: 8 }, (_, i) => `$${from + i}`).join(', ')})`;

/** A location row (session id $1, the LocationRow's 4 columns from $from). */
const LOCATION_INSERT = (from: number) => `INSERT INTO locations (session_id, source, data_enc, captured_at, recorded_at)
  VALUES ($1, ${Array.from({ length: 4 }, (_, i) => `$${from + i}`).join(', ')})`;

/** The readiness probe (see ping). */
const PROBE_SQL = 'INSERT INTO store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at';

/**
 * The PostgreSQL store: same schema and semantics as the SQLite store. Every write and its audit
 * entries share one transaction holding an advisory lock, so concurrent writers (several nodes)
 * append to one unforked chain (transactions.ts).
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #t: StoreTimeouts;
  readonly #live = new Liveness();
  /** The deadline (performance.now()) of the call a transaction runs for: past it, the transaction rolls back instead of committing. */
  readonly #deadline = new AsyncLocalStorage<number>();
  readonly #cipher: FieldCipher;
  readonly #signer: CheckpointSigner;
  /** The highest head checkpoint this process wrote or read since it started. */
  readonly #known = new KnownHead();
  readonly #txs: PgTransactions;
  readonly incidents: IncidentStore;

  readonly #ping = sharedProbe(() => this.#bounded(Math.min(this.#t.callTimeoutMs, PROBE_TIMEOUT_MS), async () => {
    await this.#pool.query({ text: PROBE_SQL, values: [new Date().toISOString()] });
  }));

  constructor(pool: pg.Pool, cipher: FieldCipher, timeouts: Partial<StoreTimeouts> = {}) {
    this.#pool = pool;
    this.#t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#cipher = cipher;
    this.#signer = new CheckpointSigner(cipher);
    this.#txs = new PgTransactions(pool, this.#signer, this.#known, this.#deadline);
    const inner = new PostgresIncidentStore(pool, (fn, o) => this.#txs.tx(fn, { lockFirst: o?.lockFirst ?? false }), (...a) => this.#txs.appendAudit(...a), cipher);
    this.incidents = {
      raise: (r: IncidentRaise): Promise<{ incident: Incident; created: boolean }> => this.#bounded(this.#t.callTimeoutMs, () => inner.raise(r)),
      append: (e: IncidentEvent): Promise<Incident> => this.#bounded(this.#t.callTimeoutMs, () => inner.append(e)),
      get: (id: string): Promise<Incident | undefined> => this.#bounded(this.#t.callTimeoutMs, () => inner.get(id)),
      events: (id: string): Promise<IncidentEvent[]> => this.#bounded(this.#t.callTimeoutMs, () => inner.events(id)),
      open: (): Promise<Incident[]> => this.#bounded(LONG_CALL_MS, () => inner.open()),
      recordWebhookAttempt: (a: WebhookAttempt): Promise<void> => this.#bounded(this.#t.callTimeoutMs, () => inner.recordWebhookAttempt(a)),
      webhookAttempts: (id: string): Promise<WebhookAttempt[]> => this.#bounded(this.#t.callTimeoutMs, () => inner.webhookAttempts(id)),
    };
  }

  /** A pool with the timeouts of poolTimeouts (every wait on the server bounded), for a store with those timeouts. */
  static connect(url: string, cipher: FieldCipher, timeouts: Partial<StoreTimeouts> = {}): PostgresStore {
    const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    // Pipeline mode: a query is sent without waiting for the answer to the one before, where the
    // code does not wait (BEGIN with the first statement, the audit entries with COMMIT: see PgTransactions.tx).
    const pool = new pg.Pool({ connectionString: url, max: 10, keepAlive: true, pipeline: true, ...poolTimeouts(t) } as pg.PoolConfig);
    pool.on('error', () => undefined); // idle client errors surface on the next query instead
    return new PostgresStore(pool, cipher, t);
  }

  /**
   * Every call: rejects with STORE_UNAVAILABLE after `ms` (withDeadline), or at once while the
   * server does not answer (Liveness), and turns the driver's availability errors into
   * STORE_UNAVAILABLE (classifyPostgresError). What it leaves running is bounded by the pool's
   * timeouts: a hung server's clients are discarded after query_timeout.
   */
  #bounded<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    const gate = this.#live.enter();
    if (gate instanceof Error) return Promise.reject(gate);
    let run: Promise<T>;
    try {
      run = this.#deadline.run(performance.now() + ms, fn);
    } catch (err) {
      run = Promise.reject(err);
    }
    const classified = run.catch((err: unknown) => { throw classifyPostgresError(err, this.#t); });
    // An answer that comes after the deadline still shows the server answers again.
    classified.then(() => this.#live.heard(), (err: unknown) => { if (!isNoAnswer(err)) this.#live.heard(); });
    const bounded = withDeadline(classified, ms, 'the PostgreSQL store');
    bounded.then(
      () => this.#live.leave(gate.trial, { noAnswer: false }),
      (err: unknown) => this.#live.leave(gate.trial, isNoAnswer(err) ? { noAnswer: true, reason: 'PostgreSQL did not answer in time' } : { noAnswer: false }),
    );
    return bounded;
  }

  migrate(): Promise<void> {
    return this.#bounded(LONG_CALL_MS, () => this.#migrate());
  }

  async #migrate(): Promise<void> {
    await this.#txs.tx(async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(long(m.sql));
        if (m.adoptAuditHead) await this.#txs.adoptHead(c);
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
      }
    }, { lock: MIGRATION_LOCK, maintenance: true });
  }

  recordAdmission(r: AdmissionRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      const at = r.at.toISOString();
      await this.#txs.tx(async (c) => {
        const k = consentGrantRow(r.consent, at, this.#cipher);
        const l = locationRow(r.location, at, this.#cipher);
        await this.#txs.writeAndLock(c, [
          'INSERT INTO sessions (session_id, room, identity, role, joined_at, remote_address_enc) VALUES ($1, $2, $3, $4, $5, $6)',
          CONSENT_INSERT(7),
          LOCATION_INSERT(15),
        ], [r.sessionId, r.room, r.identity, r.role, at, this.#cipher.seal(r.remoteAddress),
          k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at,
          l.source, l.data_enc, l.captured_at, l.recorded_at]);
        const base = { sessionId: r.sessionId, identity: r.identity, role: r.role };
        await this.#consentGranted(c, r);
        await this.#txs.appendAudit(c, r.room, 'location.recorded', r.identity, { ...base, source: r.location.source }, r.at);
        await this.#txs.appendAudit(c, r.room, 'admission.granted', r.identity, base, r.at);
      });
    });
  }

  /** The `consent.granted` entry of a consent grant row: the admission's consent and a consent granted again alike. */
  #consentGranted(c: pg.PoolClient, r: ConsentGrantRecord): Promise<void> {
    return this.#txs.appendAudit(c, r.room, 'consent.granted', r.identity, consentGrantedDetail(r), r.at);
  }

  recordConsent(r: ConsentGrantRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx(async (c) => {
        const k = consentGrantRow(r.consent, r.at.toISOString(), this.#cipher);
        await this.#txs.writeAndLock(c, [CONSENT_INSERT(2)], [r.sessionId, k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at]);
        await this.#consentGranted(c, r);
      });
    });
  }

  recordRefusal(r: RefusalRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx((c) => this.#txs.appendAudit(c, r.room, 'admission.refused', r.identity, { identity: r.identity, role: r.role, code: r.code }, r.at));
    });
  }

  recordWithdrawal(r: WithdrawalRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx(async (c) => {
        const k = withdrawalRow(r.scopes, r.at.toISOString());
        await this.#txs.writeAndLock(c, [CONSENT_INSERT(2)], [r.sessionId, k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at]);
        await this.#txs.appendAudit(c, r.room, 'consent.withdrawn', r.identity, { sessionId: r.sessionId, identity: r.identity, scopes: r.scopes }, r.at);
      });
    });
  }

  recordLocation(r: LocationUpdateRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx(async (c) => {
        const l = locationRow(r.location, r.at.toISOString(), this.#cipher);
        await this.#txs.writeAndLock(c, [LOCATION_INSERT(2)], [r.sessionId, l.source, l.data_enc, l.captured_at, l.recorded_at]);
        await this.#txs.appendAudit(c, r.room, 'location.recorded', r.identity, { sessionId: r.sessionId, identity: r.identity, source: r.location.source }, r.at);
      });
    });
  }

  latestLocation(sessionId: string): Promise<Location | undefined> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      const row = (await this.#pool.query('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = $1 ORDER BY id DESC LIMIT 1', [sessionId])).rows[0] as LocationRow | undefined;
      if (!row) return undefined;
      const { recordedAt: _r, ...location } = locationFromRow(row, this.#cipher);
      return location;
    });
  }

  recordRevocation(r: RevocationRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx(async (c) => {
        await c.query('INSERT INTO revocations (room, identity, token_id, until, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [r.room, r.identity ?? null, r.tokenId ?? null, r.until.toISOString(), r.reason, r.actor, r.at.toISOString()]);
        await this.#txs.appendAudit(c, r.room, 'access.revoked', r.actor, { identity: r.identity ?? null, tokenId: r.tokenId ?? null, until: r.until.toISOString() }, r.at);
      });
    });
  }

  activeRevocations(now: Date): Promise<RevocationRecord[]> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      const rows = (await this.#pool.query('SELECT room, identity, token_id, until, reason, actor, at FROM revocations WHERE until > $1', [now.toISOString()])).rows;
      return rows.map((r) => ({
        room: r.room, identity: r.identity ?? undefined, tokenId: r.token_id ?? undefined,
        until: new Date(r.until), reason: r.reason, actor: r.actor, at: new Date(r.at),
      }));
    });
  }

  audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#txs.tx((c) => this.#txs.appendAudit(c, e.room, e.kind, e.actor, e.detail, e.at));
    });
  }

  participants(room: string): Promise<ParticipantRecords[]> {
    return this.#bounded(LONG_CALL_MS, () => roomRecords(this.#pool, this.#cipher, room));
  }

  sessionRecords(room: string, sessionId: string): Promise<ParticipantRecords | undefined> {
    return this.#bounded(this.#t.callTimeoutMs, () => sessionRecords(this.#pool, this.#cipher, room, sessionId));
  }

  auditTrail(room?: string): Promise<AuditEntry[]> {
    return this.#bounded(LONG_CALL_MS, () => this.#txs.snapshot((c) => this.#trail(c, room)));
  }

  async #trail(c: pg.PoolClient, room?: string): Promise<AuditEntry[]> {
    const sql = 'SELECT seq, at, room, kind, actor, detail, prev_hash, hash FROM audit';
    const res = room === undefined ? await c.query(long(`${sql} ORDER BY seq`)) : await c.query(long(`${sql} WHERE room = $1 ORDER BY seq`, [room]));
    return res.rows.map((r) => ({ seq: Number(r.seq), at: r.at, room: r.room, kind: r.kind, actor: r.actor, detail: r.detail, prevHash: r.prev_hash, hash: r.hash }));
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.#bounded(LONG_CALL_MS, async () => {
      const { entries, checkpoint } = await this.#txs.snapshot(async (c) => ({
        entries: await this.#trail(c),
        checkpoint: checkpointFromRow((await c.query(CHECKPOINT_SQL)).rows[0]),
      }));
      this.#known.note(checkpoint, true);
      return verifyTrail(entries, checkpoint, this.#signer);
    });
  }

  auditHead(): Promise<AuditHeadStatus> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      const state = headStateFromRow((await this.#pool.query(HEAD_STATE_SQL)).rows[0]);
      this.#known.note(state.checkpoint, true);
      return headStatus(state, this.#signer);
    });
  }

  auditHeadPosition(): number | undefined {
    return this.#known.position;
  }

  applyRetention(cutoff: Date, actor: string): Promise<{ sessions: number; auditEntries: number }> {
    return this.#bounded(LONG_CALL_MS, async () => {
      const iso = cutoff.toISOString();
      return this.#txs.tx(async (c) => {
        // The head before the cut: if the cut takes every entry, the retention entry still links to it.
        await this.#txs.head(c);
        const sessions = (await c.query(long('DELETE FROM sessions WHERE joined_at < $1', [iso]))).rowCount ?? 0;
        await c.query(long('DELETE FROM revocations WHERE until < $1', [iso]));
        const old = (await c.query(long(`SELECT id FROM incidents WHERE raised_at < $1 AND id IN (SELECT incident_id FROM incident_events WHERE type = 'resolved')`, [iso]))).rows.map((r) => r.id as string);
        if (old.length > 0) {
          await c.query(long('DELETE FROM webhook_attempts WHERE incident_id = ANY($1)', [old]));
          await c.query(long('DELETE FROM incident_events WHERE incident_id = ANY($1)', [old]));
          await c.query(long('DELETE FROM incidents WHERE id = ANY($1)', [old]));
        }
        // Only the unbroken run of old entries at the start of the chain (see the SQLite adapter).
        const cut = (await c.query(long(`SELECT seq, hash FROM audit WHERE seq < COALESCE((SELECT MIN(seq) FROM audit WHERE at >= $1), (SELECT MAX(seq) + 1 FROM audit))
          ORDER BY seq DESC LIMIT 1`, [iso]))).rows[0] as { seq: string; hash: string } | undefined;
        let auditEntries = 0;
        if (cut) auditEntries = (await c.query(long('DELETE FROM audit WHERE seq <= $1', [cut.seq]))).rowCount ?? 0;
        await this.#txs.appendAudit(c, '*', 'retention.applied', actor, {
          cutoff: iso, sessions, auditEntries, deletedThroughSeq: cut ? Number(cut.seq) : null, anchorHash: cut?.hash ?? null,
        }, new Date());
        return { sessions, auditEntries };
      }, { maintenance: true });
    });
  }

  /**
   * A write probe (an upsert of the one row of store_probe, no record, no audit entry), at most one
   * a second (sharedProbe), within min(callTimeoutMs, 1 s): fails when the server is down, hung,
   * read-only or out of resources.
   */
  ping(): Promise<boolean> {
    return this.#ping();
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
