import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import { GENESIS_HASH, entryHash } from '../audit-chain.ts';
import {
  CHECKPOINT_SQL, CheckpointSigner, HEAD_STATE_SQL, KnownHead, MISMATCH_ENTRY, checkpointFromRow, headStateFromRow, headStatus, newTxHead,
  planAppend, upsertCheckpointSql, verifyTrail, type TxHead,
} from '../audit-head.ts';
import { consentFromRow, consentGrantRow, consentGrantedDetail, locationFromRow, locationRow, withdrawalRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type {
  AdmissionRecord, AuditCheckpoint, ConsentGrantRecord, AuditEntry, AuditHeadStatus, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, Store, WithdrawalRecord,
} from '../types.ts';
import type { Incident, IncidentEvent, IncidentRaise, IncidentStore, WebhookAttempt } from '../../domain/incident.ts';
import { DEFAULT_TIMEOUTS, LONG_CALL_MS, Liveness, PROBE_TIMEOUT_MS, isNoAnswer, sharedProbe, storeUnavailable, withDeadline, type StoreTimeouts } from '../unavailable.ts';
import { classifyPostgresError, connectionLost } from './errors.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { PostgresIncidentStore } from './postgres-incidents.ts';
import { sessionRecords } from './session-records.ts';

/**
 * Advisory lock ids (transaction-scoped, so COMMIT or ROLLBACK, or a dropped connection, releases them).
 *
 * AUDIT_LOCK: an append reads the last entry (seq, hash) and inserts seq+1 linked to it. Under READ
 * COMMITTED two transactions, on this node or another, would both read the same last entry: one
 * then dies on audit_pkey and its write is lost, or, were seq not unique, the chain would fork.
 * Holding one lock from before that read until COMMIT makes appends strictly sequential; the read
 * after the lock is a new statement, so it sees every entry committed before the lock was granted.
 * Row locks cannot do this: there is no row to lock in an empty table or after retention.
 * (Removing this lock makes the two-pool test fail on audit_pkey.)
 *
 * MIGRATION_LOCK: concurrent `CREATE TABLE` of the same name races on the catalog (pg_type), and two
 * nodes must not both apply one migration; one node migrates, the others wait, then see it applied.
 */
const AUDIT_LOCK = 7_310_001;
const MIGRATION_LOCK = 7_310_002;

const UPSERT_CHECKPOINT = upsertCheckpointSql((i) => `$${i}`);

/**
 * A transaction's audit entries and its head checkpoint in one statement, at its end: the fewer
 * round trips while AUDIT_LOCK is held, the more appends a second the store takes (the lock makes
 * them sequential across nodes). $1-$5: the checkpoint; $6-$13: the entries' columns as arrays.
 */
const APPEND_AND_SIGN = `WITH appended AS (
    INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash)
    SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
  )
  ${UPSERT_CHECKPOINT}`;

const LOCK_SQL = 'SELECT pg_advisory_xact_lock($1)';

/** A consent row (session id $1, the ConsentRow's 8 columns from $from). */
const CONSENT_INSERT = (from: number) => `INSERT INTO consents (session_id, kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at)
  VALUES ($1, ${Array.from({ length: 8 }, (_, i) => `$${from + i}`).join(', ')})`;

/** A location row (session id $1, the LocationRow's 4 columns from $from). */
const LOCATION_INSERT = (from: number) => `INSERT INTO locations (session_id, source, data_enc, captured_at, recorded_at)
  VALUES ($1, ${Array.from({ length: 4 }, (_, i) => `$${from + i}`).join(', ')})`;

/** The readiness probe (see ping). */
const PROBE_SQL = 'INSERT INTO store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at';

/** A checked-out client's connection error reaches its queries; without a listener it would also be thrown as an 'error' event. */
const ignore = () => undefined;

/**
 * The pool's timeouts, from store.callTimeoutMs (docs/records.md, "Store deadlines"): waiting for a
 * connection (connectionTimeoutMillis) and, on the server, one statement (statement_timeout) take
 * at most callTimeoutMs; the driver gives up on an answer (query_timeout) 500 ms later, so that a
 * live server's own timeout error comes first and the connection is kept; a transaction left idle
 * (idle_in_transaction_session_timeout, e.g. by a client that vanished) is ended by the server
 * after 10 x callTimeoutMs. The maintenance calls raise both for their transaction (SET LOCAL).
 */
export function poolTimeouts(t: StoreTimeouts) {
  return {
    connectionTimeoutMillis: t.callTimeoutMs,
    statement_timeout: t.callTimeoutMs,
    query_timeout: t.callTimeoutMs + 500,
    idle_in_transaction_session_timeout: 10 * t.callTimeoutMs,
  };
}

/** A query of a maintenance call: the driver waits as long as the call's deadline. */
const long = (text: string, values: unknown[] = []) => ({ text, values, query_timeout: LONG_CALL_MS });

/** `lockFirst`: take AUDIT_LOCK at BEGIN (a transaction that reads before it appends and must not race another writer, e.g. an idempotent raise). */
export type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>, opts?: { lockFirst?: boolean }) => Promise<T>;

/** A transaction's audit state: TxHead, whether it holds AUDIT_LOCK, and its entries not yet written (rows of APPEND_AND_SIGN's arrays). */
interface PgTxHead extends TxHead {
  locked: boolean;
  pending: [number, string, string, string, string, string, string, string][];
}
export type AppendAudit = (c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date) => Promise<void>;

/**
 * The PostgreSQL store: same schema and semantics as the SQLite store. Every write and its audit
 * entries share one transaction holding an advisory lock, so concurrent writers (several nodes)
 * append to one unforked chain.
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #t: StoreTimeouts;
  readonly #live = new Liveness();
  /** The deadline (performance.now()) of the call a transaction runs for: past it, the transaction rolls back instead of committing. */
  readonly #deadline = new AsyncLocalStorage<number>();
  readonly #cipher: FieldCipher;
  readonly #signer: CheckpointSigner;
  /** Audit state of each open transaction, by its client (see TxHead). */
  readonly #txHeads = new WeakMap<pg.PoolClient, PgTxHead>();
  /** The highest head checkpoint this process wrote or read since it started. */
  readonly #known = new KnownHead();
  readonly incidents: IncidentStore;

  readonly #ping = sharedProbe(() => this.#bounded(Math.min(this.#t.callTimeoutMs, PROBE_TIMEOUT_MS), async () => {
    await this.#pool.query({ text: PROBE_SQL, values: [new Date().toISOString()] });
  }));

  constructor(pool: pg.Pool, cipher: FieldCipher, timeouts: Partial<StoreTimeouts> = {}) {
    this.#pool = pool;
    this.#t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#cipher = cipher;
    this.#signer = new CheckpointSigner(cipher);
    const inner = new PostgresIncidentStore(pool, (fn, o) => this.#tx(fn, { lockFirst: o?.lockFirst ?? false }), (...a) => this.#appendAudit(...a), cipher);
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
    // code does not wait (BEGIN with the first statement, the audit entries with COMMIT: see #tx).
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

  /**
   * One transaction on one pooled client. AUDIT_LOCK (see there) is taken right before the
   * transaction reads the audit head (its first append), or at BEGIN with `lockFirst`; another
   * `lock` (MIGRATION_LOCK) at BEGIN; each is held to COMMIT. The audit entries it appended and the
   * signed head checkpoint are written in one statement before COMMIT (APPEND_AND_SIGN).
   */
  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>, opts: { lock?: number; lockFirst?: boolean; maintenance?: boolean } = {}): Promise<T> {
    const { lock = AUDIT_LOCK, maintenance = false } = opts;
    const lockFirst = opts.lockFirst ?? lock !== AUDIT_LOCK;
    const c = await this.#pool.connect();
    c.on('error', ignore);
    let broken: Error | undefined;
    const audit: PgTxHead = { ...newTxHead(), locked: false, pending: [] };
    // Every statement of the transaction fails after a failed BEGIN (a broken connection): BEGIN goes out with the first one.
    const begun = c.query('BEGIN');
    begun.catch(ignore);
    try {
      if (maintenance) await this.#longTimeouts(c);
      if (lockFirst) {
        await c.query(maintenance ? long(LOCK_SQL, [lock]) : { text: LOCK_SQL, values: [lock] });
        if (lock === AUDIT_LOCK) audit.locked = true;
      }
      this.#txHeads.set(c, audit);
      const out = await fn(c);
      // Its caller has been told STORE_UNAVAILABLE already: it must not commit now.
      const deadline = this.#deadline.getStore();
      if (deadline !== undefined && performance.now() >= deadline) {
        throw storeUnavailable('the PostgreSQL store did not reach COMMIT before the deadline: rolled back', undefined, true);
      }
      // The entries and the checkpoint, then COMMIT, in one round trip. If the entries fail, the
      // transaction is aborted and the COMMIT that follows them ends it as a ROLLBACK.
      const signed = this.#signHead(c, audit);
      const committed = c.query('COMMIT');
      committed.catch(ignore);
      const cp = await signed;
      await committed;
      await begun;
      this.#known.note(cp);
      return out;
    } catch (err) {
      broken = await this.#endFailed(c, err);
      throw err;
    } finally {
      this.#txHeads.delete(c);
      c.removeListener('error', ignore);
      // A client that could not roll back is discarded, never handed to the next transaction.
      c.release(broken);
    }
  }

  /**
   * After a failure in a transaction: ROLLBACK, or, when the connection itself failed (no answer in
   * time, connection lost), nothing: the client is discarded, which ends the transaction on the
   * server and releases its advisory lock. Returns the reason to discard the client, if any.
   */
  async #endFailed(c: pg.PoolClient, err: unknown): Promise<Error | undefined> {
    if (connectionLost(err)) return err instanceof Error ? err : new Error(String(err));
    try {
      await c.query('ROLLBACK');
      return undefined;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** A maintenance transaction's statements may run (and the transaction idle) as long as its call's deadline. */
  async #longTimeouts(c: pg.PoolClient): Promise<void> {
    await c.query(`SET LOCAL statement_timeout = ${LONG_CALL_MS}`);
    await c.query(`SET LOCAL idle_in_transaction_session_timeout = ${LONG_CALL_MS}`);
  }

  /** Reads in one snapshot (REPEATABLE READ), so that no append commits between the entries and the checkpoint. */
  async #snapshot<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect();
    c.on('error', ignore);
    let broken: Error | undefined;
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await this.#longTimeouts(c);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      broken = await this.#endFailed(c, err);
      throw err;
    } finally {
      c.removeListener('error', ignore);
      c.release(broken);
    }
  }

  migrate(): Promise<void> {
    return this.#bounded(LONG_CALL_MS, () => this.#migrate());
  }

  async #migrate(): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(long(m.sql));
        if (m.adoptAuditHead) await this.#adoptHead(c);
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
      }
    }, { lock: MIGRATION_LOCK, maintenance: true });
  }

  /**
   * The head this transaction appends after: read once (newest entry and checkpoint in one query),
   * then kept while the transaction holds AUDIT_LOCK. When the trail does not reach the checkpoint,
   * a CHECKPOINT_MISMATCH entry is appended first, so the evidence outlives the next checkpoint.
   */
  async #head(c: pg.PoolClient): Promise<PgTxHead> {
    const t = this.#txHeads.get(c);
    if (!t) throw new Error('audit append outside a write transaction');
    if (!t.loaded) {
      t.loaded = true;
      if (!t.locked) {
        await c.query(LOCK_SQL, [AUDIT_LOCK]);
        t.locked = true;
      }
      const plan = planAppend(headStateFromRow((await c.query(HEAD_STATE_SQL)).rows[0]), this.#signer);
      t.head = plan.link;
      if (plan.mismatch) this.#insertEntry(t, MISMATCH_ENTRY.room, MISMATCH_ENTRY.kind, MISMATCH_ENTRY.actor, plan.mismatch, new Date());
    }
    return t;
  }

  /** Chains the entry to the transaction's head; it is written with the checkpoint, before COMMIT (#signHead). */
  #insertEntry(t: PgTxHead, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): void {
    const e = { seq: (t.head?.seq ?? 0) + 1, at: at.toISOString(), room, kind, actor, detail: JSON.stringify(detail), prevHash: t.head?.hash ?? GENESIS_HASH };
    const hash = entryHash(e);
    t.pending.push([e.seq, e.at, e.room, e.kind, e.actor, e.detail, e.prevHash, hash]);
    t.head = { seq: e.seq, hash };
    t.dirty = true;
  }

  async #appendAudit(c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): Promise<void> {
    this.#insertEntry(await this.#head(c), room, kind, actor, detail, at);
  }

  async #signHead(c: pg.PoolClient, t: PgTxHead): Promise<AuditCheckpoint | undefined> {
    if (!t.dirty || !t.head) return undefined;
    const cp = this.#signer.sign(t.head, new Date());
    const columns = Array.from({ length: 8 }, (_, i) => t.pending.map((row) => row[i]));
    await c.query(APPEND_AND_SIGN, [cp.seq, cp.hash, cp.at, cp.keyId, cp.mac, ...columns]);
    t.pending = [];
    return cp;
  }

  /** First checkpoint of a trail written before checkpoints existed: its newest entry, as found (holding AUDIT_LOCK too). */
  async #adoptHead(c: pg.PoolClient): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const last = (await c.query('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')).rows[0] as { seq: string; hash: string } | undefined;
    if (!last) return;
    const cp = this.#signer.sign({ seq: Number(last.seq), hash: last.hash }, new Date());
    await c.query(UPSERT_CHECKPOINT, [cp.seq, cp.hash, cp.at, cp.keyId, cp.mac]);
  }

  /**
   * A record's rows and AUDIT_LOCK in one statement (one round trip): `inserts` are INSERTs with
   * parameters numbered from $1 in `values`, run as data-modifying CTEs (foreign keys between them
   * are checked at the end of the statement). The transaction then reads the head (#head) in the
   * next statement, so after the lock was granted.
   */
  async #writeAndLock(c: pg.PoolClient, inserts: readonly string[], values: readonly unknown[]): Promise<void> {
    const t = this.#txHeads.get(c);
    if (!t || t.locked) throw new Error('#writeAndLock: outside a transaction, or after the lock');
    const ctes = inserts.map((q, i) => `w${i} AS (${q})`).join(',\n');
    await c.query(`WITH ${ctes}\nSELECT pg_advisory_xact_lock($${values.length + 1})`, [...values, AUDIT_LOCK]);
    t.locked = true;
  }

  recordAdmission(r: AdmissionRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      const at = r.at.toISOString();
      await this.#tx(async (c) => {
        const k = consentGrantRow(r.consent, at, this.#cipher);
        const l = locationRow(r.location, at, this.#cipher);
        await this.#writeAndLock(c, [
          'INSERT INTO sessions (session_id, room, identity, role, joined_at, remote_address_enc) VALUES ($1, $2, $3, $4, $5, $6)',
          CONSENT_INSERT(7),
          LOCATION_INSERT(15),
        ], [r.sessionId, r.room, r.identity, r.role, at, this.#cipher.seal(r.remoteAddress),
          k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at,
          l.source, l.data_enc, l.captured_at, l.recorded_at]);
        const base = { sessionId: r.sessionId, identity: r.identity, role: r.role };
        await this.#consentGranted(c, r);
        await this.#appendAudit(c, r.room, 'location.recorded', r.identity, { ...base, source: r.location.source }, r.at);
        await this.#appendAudit(c, r.room, 'admission.granted', r.identity, base, r.at);
      });
    });
  }

  /** The `consent.granted` entry of a consent grant row: the admission's consent and a consent granted again alike. */
  #consentGranted(c: pg.PoolClient, r: ConsentGrantRecord): Promise<void> {
    return this.#appendAudit(c, r.room, 'consent.granted', r.identity, consentGrantedDetail(r), r.at);
  }

  recordConsent(r: ConsentGrantRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#tx(async (c) => {
        const k = consentGrantRow(r.consent, r.at.toISOString(), this.#cipher);
        await this.#writeAndLock(c, [CONSENT_INSERT(2)], [r.sessionId, k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at]);
        await this.#consentGranted(c, r);
      });
    });
  }

  recordRefusal(r: RefusalRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#tx((c) => this.#appendAudit(c, r.room, 'admission.refused', r.identity, { identity: r.identity, role: r.role, code: r.code }, r.at));
    });
  }

  recordWithdrawal(r: WithdrawalRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#tx(async (c) => {
        const k = withdrawalRow(r.scopes, r.at.toISOString());
        await this.#writeAndLock(c, [CONSENT_INSERT(2)], [r.sessionId, k.kind, k.policy_version, k.scopes, k.relation, k.granted_by_name_enc, k.method, k.attested_by, k.at]);
        await this.#appendAudit(c, r.room, 'consent.withdrawn', r.identity, { sessionId: r.sessionId, identity: r.identity, scopes: r.scopes }, r.at);
      });
    });
  }

  recordLocation(r: LocationUpdateRecord): Promise<void> {
    return this.#bounded(this.#t.callTimeoutMs, async () => {
      await this.#tx(async (c) => {
        const l = locationRow(r.location, r.at.toISOString(), this.#cipher);
        await this.#writeAndLock(c, [LOCATION_INSERT(2)], [r.sessionId, l.source, l.data_enc, l.captured_at, l.recorded_at]);
        await this.#appendAudit(c, r.room, 'location.recorded', r.identity, { sessionId: r.sessionId, identity: r.identity, source: r.location.source }, r.at);
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
      await this.#tx(async (c) => {
        await c.query('INSERT INTO revocations (room, identity, token_id, until, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [r.room, r.identity ?? null, r.tokenId ?? null, r.until.toISOString(), r.reason, r.actor, r.at.toISOString()]);
        await this.#appendAudit(c, r.room, 'access.revoked', r.actor, { identity: r.identity ?? null, tokenId: r.tokenId ?? null, until: r.until.toISOString() }, r.at);
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
      await this.#tx((c) => this.#appendAudit(c, e.room, e.kind, e.actor, e.detail, e.at));
    });
  }

  participants(room: string): Promise<ParticipantRecords[]> {
    return this.#bounded(LONG_CALL_MS, async () => {
      const sessions = (await this.#pool.query('SELECT session_id, identity, role, joined_at FROM sessions WHERE room = $1 ORDER BY joined_at, session_id', [room])).rows;
      const out: ParticipantRecords[] = [];
      for (const s of sessions) {
        const consents = (await this.#pool.query('SELECT kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at FROM consents WHERE session_id = $1 ORDER BY id', [s.session_id])).rows as ConsentRow[];
        const locations = (await this.#pool.query('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = $1 ORDER BY id', [s.session_id])).rows as LocationRow[];
        out.push({
          sessionId: s.session_id, identity: s.identity, role: s.role, joinedAt: s.joined_at,
          consents: consents.map((c) => consentFromRow(c, this.#cipher)),
          locations: locations.map((l) => locationFromRow(l, this.#cipher)),
        });
      }
      return out;
    });
  }

  sessionRecords(room: string, sessionId: string): Promise<ParticipantRecords | undefined> {
    return this.#bounded(this.#t.callTimeoutMs, () => sessionRecords(this.#pool, this.#cipher, room, sessionId));
  }

  auditTrail(room?: string): Promise<AuditEntry[]> {
    return this.#bounded(LONG_CALL_MS, () => this.#snapshot((c) => this.#trail(c, room)));
  }

  async #trail(c: pg.PoolClient, room?: string): Promise<AuditEntry[]> {
    const sql = 'SELECT seq, at, room, kind, actor, detail, prev_hash, hash FROM audit';
    const res = room === undefined ? await c.query(long(`${sql} ORDER BY seq`)) : await c.query(long(`${sql} WHERE room = $1 ORDER BY seq`, [room]));
    return res.rows.map((r) => ({ seq: Number(r.seq), at: r.at, room: r.room, kind: r.kind, actor: r.actor, detail: r.detail, prevHash: r.prev_hash, hash: r.hash }));
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.#bounded(LONG_CALL_MS, async () => {
      const { entries, checkpoint } = await this.#snapshot(async (c) => ({
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
      return this.#tx(async (c) => {
        // The head before the cut: if the cut takes every entry, the retention entry still links to it.
        await this.#head(c);
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
        await this.#appendAudit(c, '*', 'retention.applied', actor, {
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
