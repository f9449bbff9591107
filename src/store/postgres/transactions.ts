import type { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { GENESIS_HASH, entryHash } from '../audit-chain.ts';
import {
  HEAD_STATE_SQL, MISMATCH_ENTRY, headStateFromRow, newTxHead, planAppend, upsertCheckpointSql, type CheckpointSigner, type KnownHead, type TxHead,
} from '../audit-head.ts';
import type { AuditCheckpoint } from '../types.ts';
import { LONG_CALL_MS, storeUnavailable, type StoreTimeouts } from '../unavailable.ts';
import { connectionLost } from './errors.ts';

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
export const MIGRATION_LOCK = 7_310_002;

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
export const long = (text: string, values: unknown[] = []) => ({ text, values, query_timeout: LONG_CALL_MS });

/** `lockFirst`: take AUDIT_LOCK at BEGIN (a transaction that reads before it appends and must not race another writer, e.g. an idempotent raise). */
export type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>, opts?: { lockFirst?: boolean }) => Promise<T>;

/** A transaction's audit state: TxHead, whether it holds AUDIT_LOCK, and its entries not yet written (rows of APPEND_AND_SIGN's arrays). */
interface PgTxHead extends TxHead {
  locked: boolean;
  pending: [number, string, string, string, string, string, string, string][];
}
export type AppendAudit = (c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date) => Promise<void>;


/**
 * Transactions on the store's pool, and the audit chain they append to: each write transaction
 * carries the audit entries it appends (one chain across nodes, AUDIT_LOCK) and writes them with
 * the signed head checkpoint right before COMMIT; reads of the trail run in one snapshot.
 */
export class PgTransactions {
  readonly #pool: pg.Pool;
  readonly #signer: CheckpointSigner;
  /** The highest head checkpoint this process wrote or read since it started. */
  readonly #known: KnownHead;
  /** The deadline (performance.now()) of the call a transaction runs for: past it, the transaction rolls back instead of committing. */
  readonly #deadline: AsyncLocalStorage<number>;
  /** Audit state of each open transaction, by its client (see TxHead). */
  readonly #txHeads = new WeakMap<pg.PoolClient, PgTxHead>();

  constructor(pool: pg.Pool, signer: CheckpointSigner, known: KnownHead, deadline: AsyncLocalStorage<number>) {
    this.#pool = pool;
    this.#signer = signer;
    this.#known = known;
    this.#deadline = deadline;
  }

  /**
   * One transaction on one pooled client. AUDIT_LOCK (see there) is taken right before the
   * transaction reads the audit head (its first append), or at BEGIN with `lockFirst`; another
   * `lock` (MIGRATION_LOCK) at BEGIN; each is held to COMMIT. The audit entries it appended and the
   * signed head checkpoint are written in one statement before COMMIT (APPEND_AND_SIGN).
   */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, opts: { lock?: number; lockFirst?: boolean; maintenance?: boolean } = {}): Promise<T> {
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
  async snapshot<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
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


  /**
   * The head this transaction appends after: read once (newest entry and checkpoint in one query),
   * then kept while the transaction holds AUDIT_LOCK. When the trail does not reach the checkpoint,
   * a CHECKPOINT_MISMATCH entry is appended first, so the evidence outlives the next checkpoint.
   */
  async head(c: pg.PoolClient): Promise<PgTxHead> {
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

  async appendAudit(c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): Promise<void> {
    this.#insertEntry(await this.head(c), room, kind, actor, detail, at);
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
  async adoptHead(c: pg.PoolClient): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const last = (await c.query('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')).rows[0] as { seq: string; hash: string } | undefined;
    if (!last) return;
    const cp = this.#signer.sign({ seq: Number(last.seq), hash: last.hash }, new Date());
    await c.query(UPSERT_CHECKPOINT, [cp.seq, cp.hash, cp.at, cp.keyId, cp.mac]);
  }

  /**
   * A record's rows and AUDIT_LOCK in one statement (one round trip): `inserts` are INSERTs with
   * parameters numbered from $1 in `values`, run as data-modifying CTEs (foreign keys between them
   * are checked at the end of the statement). The transaction then reads the head (head) in the
   * next statement, so after the lock was granted.
   */
  async writeAndLock(c: pg.PoolClient, inserts: readonly string[], values: readonly unknown[]): Promise<void> {
    const t = this.#txHeads.get(c);
    if (!t || t.locked) throw new Error('writeAndLock: outside a transaction, or after the lock');
    const ctes = inserts.map((q, i) => `w${i} AS (${q})`).join(',\n');
    await c.query(`WITH ${ctes}\nSELECT pg_advisory_xact_lock($${values.length + 1})`, [...values, AUDIT_LOCK]);
    t.locked = true;
  }

}
