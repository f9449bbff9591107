import pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import { GENESIS_HASH, entryHash, verifyChain } from '../audit-chain.ts';
import { consentFromRow, consentGrantRow, locationFromRow, locationRow, withdrawalRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type {
  AdmissionRecord, AuditEntry, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, Store, WithdrawalRecord,
} from '../types.ts';
import type { IncidentStore } from '../../safety/panic/types.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { PostgresIncidentStore } from './postgres-incidents.ts';

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

export type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
export type AppendAudit = (c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date) => Promise<void>;

/**
 * The PostgreSQL store: same schema and semantics as the SQLite store. Every write and its audit
 * entries share one transaction holding an advisory lock, so concurrent writers (several nodes)
 * append to one unforked chain.
 */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #cipher: FieldCipher;
  readonly incidents: IncidentStore;

  constructor(pool: pg.Pool, cipher: FieldCipher) {
    this.#pool = pool;
    this.#cipher = cipher;
    this.incidents = new PostgresIncidentStore(pool, (fn) => this.#tx(fn), (...a) => this.#appendAudit(...a), cipher);
  }

  static connect(url: string, cipher: FieldCipher): PostgresStore {
    // A bounded wait for a connection, so ping() (readiness) fails instead of hanging when the server is gone.
    const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined); // idle client errors surface on the next query instead
    return new PostgresStore(pool, cipher);
  }

  /** One transaction on one pooled client, holding `lock` (see AUDIT_LOCK) from its start to COMMIT. */
  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>, lock = AUDIT_LOCK): Promise<T> {
    const c = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => { broken = e instanceof Error ? e : new Error(String(e)); });
      throw err;
    } finally {
      // A client that could not roll back is discarded, never handed to the next transaction.
      c.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
      }
    }, MIGRATION_LOCK);
  }

  async #appendAudit(c: pg.PoolClient, room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date): Promise<void> {
    const last = (await c.query('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')).rows[0] as { seq: string; hash: string } | undefined;
    const e = { seq: Number(last?.seq ?? 0) + 1, at: at.toISOString(), room, kind, actor, detail: JSON.stringify(detail), prevHash: last?.hash ?? GENESIS_HASH };
    await c.query('INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [e.seq, e.at, e.room, e.kind, e.actor, e.detail, e.prevHash, entryHash(e)]);
  }

  async #insertConsent(c: pg.PoolClient, sessionId: string, r: ConsentRow): Promise<void> {
    await c.query(`INSERT INTO consents (session_id, kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [sessionId, r.kind, r.policy_version, r.scopes, r.relation, r.granted_by_name_enc, r.method, r.attested_by, r.at]);
  }

  async #insertLocation(c: pg.PoolClient, sessionId: string, r: LocationRow): Promise<void> {
    await c.query('INSERT INTO locations (session_id, source, data_enc, captured_at, recorded_at) VALUES ($1, $2, $3, $4, $5)',
      [sessionId, r.source, r.data_enc, r.captured_at, r.recorded_at]);
  }

  async recordAdmission(r: AdmissionRecord): Promise<void> {
    const at = r.at.toISOString();
    await this.#tx(async (c) => {
      await c.query('INSERT INTO sessions (session_id, room, identity, role, joined_at, remote_address_enc) VALUES ($1, $2, $3, $4, $5, $6)',
        [r.sessionId, r.room, r.identity, r.role, at, this.#cipher.seal(r.remoteAddress)]);
      await this.#insertConsent(c, r.sessionId, consentGrantRow(r.consent, at, this.#cipher));
      await this.#insertLocation(c, r.sessionId, locationRow(r.location, at, this.#cipher));
      const base = { sessionId: r.sessionId, identity: r.identity, role: r.role };
      await this.#appendAudit(c, r.room, 'consent.granted', r.identity, {
        ...base, policyVersion: r.consent.policyVersion, scopes: r.consent.scopes, relation: r.consent.grantedBy.relation,
        method: r.consent.method, attestedBy: r.consent.attestedBy ?? null,
      }, r.at);
      await this.#appendAudit(c, r.room, 'location.recorded', r.identity, { ...base, source: r.location.source }, r.at);
      await this.#appendAudit(c, r.room, 'admission.granted', r.identity, base, r.at);
    });
  }

  async recordRefusal(r: RefusalRecord): Promise<void> {
    await this.#tx((c) => this.#appendAudit(c, r.room, 'admission.refused', r.identity, { identity: r.identity, role: r.role, code: r.code }, r.at));
  }

  async recordWithdrawal(r: WithdrawalRecord): Promise<void> {
    await this.#tx(async (c) => {
      await this.#insertConsent(c, r.sessionId, withdrawalRow(r.scopes, r.at.toISOString()));
      await this.#appendAudit(c, r.room, 'consent.withdrawn', r.identity, { sessionId: r.sessionId, identity: r.identity, scopes: r.scopes }, r.at);
    });
  }

  async recordLocation(r: LocationUpdateRecord): Promise<void> {
    await this.#tx(async (c) => {
      await this.#insertLocation(c, r.sessionId, locationRow(r.location, r.at.toISOString(), this.#cipher));
      await this.#appendAudit(c, r.room, 'location.recorded', r.identity, { sessionId: r.sessionId, identity: r.identity, source: r.location.source }, r.at);
    });
  }

  async latestLocation(sessionId: string): Promise<Location | undefined> {
    const row = (await this.#pool.query('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = $1 ORDER BY id DESC LIMIT 1', [sessionId])).rows[0] as LocationRow | undefined;
    if (!row) return undefined;
    const { recordedAt: _r, ...location } = locationFromRow(row, this.#cipher);
    return location;
  }

  async recordRevocation(r: RevocationRecord): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('INSERT INTO revocations (room, identity, token_id, until, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [r.room, r.identity ?? null, r.tokenId ?? null, r.until.toISOString(), r.reason, r.actor, r.at.toISOString()]);
      await this.#appendAudit(c, r.room, 'access.revoked', r.actor, { identity: r.identity ?? null, tokenId: r.tokenId ?? null, until: r.until.toISOString() }, r.at);
    });
  }

  async activeRevocations(now: Date): Promise<RevocationRecord[]> {
    const rows = (await this.#pool.query('SELECT room, identity, token_id, until, reason, actor, at FROM revocations WHERE until > $1', [now.toISOString()])).rows;
    return rows.map((r) => ({
      room: r.room, identity: r.identity ?? undefined, tokenId: r.token_id ?? undefined,
      until: new Date(r.until), reason: r.reason, actor: r.actor, at: new Date(r.at),
    }));
  }

  async audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): Promise<void> {
    await this.#tx((c) => this.#appendAudit(c, e.room, e.kind, e.actor, e.detail, e.at));
  }

  async participants(room: string): Promise<ParticipantRecords[]> {
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
  }

  async auditTrail(room?: string): Promise<AuditEntry[]> {
    const sql = 'SELECT seq, at, room, kind, actor, detail, prev_hash, hash FROM audit';
    const res = room === undefined ? await this.#pool.query(`${sql} ORDER BY seq`) : await this.#pool.query(`${sql} WHERE room = $1 ORDER BY seq`, [room]);
    return res.rows.map((r) => ({ seq: Number(r.seq), at: r.at, room: r.room, kind: r.kind, actor: r.actor, detail: r.detail, prevHash: r.prev_hash, hash: r.hash }));
  }

  async verifyAudit(): Promise<AuditVerification> {
    return verifyChain(await this.auditTrail());
  }

  async applyRetention(cutoff: Date, actor: string): Promise<{ sessions: number; auditEntries: number }> {
    const iso = cutoff.toISOString();
    return this.#tx(async (c) => {
      const sessions = (await c.query('DELETE FROM sessions WHERE joined_at < $1', [iso])).rowCount ?? 0;
      await c.query('DELETE FROM revocations WHERE until < $1', [iso]);
      const old = (await c.query(`SELECT id FROM incidents WHERE raised_at < $1 AND id IN (SELECT incident_id FROM incident_events WHERE type = 'resolved')`, [iso])).rows.map((r) => r.id as string);
      if (old.length > 0) {
        await c.query('DELETE FROM webhook_attempts WHERE incident_id = ANY($1)', [old]);
        await c.query('DELETE FROM incident_events WHERE incident_id = ANY($1)', [old]);
        await c.query('DELETE FROM incidents WHERE id = ANY($1)', [old]);
      }
      // Only the unbroken run of old entries at the start of the chain (see the SQLite adapter).
      const cut = (await c.query(`SELECT seq, hash FROM audit WHERE seq < COALESCE((SELECT MIN(seq) FROM audit WHERE at >= $1), (SELECT MAX(seq) + 1 FROM audit))
        ORDER BY seq DESC LIMIT 1`, [iso])).rows[0] as { seq: string; hash: string } | undefined;
      let auditEntries = 0;
      if (cut) auditEntries = (await c.query('DELETE FROM audit WHERE seq <= $1', [cut.seq])).rowCount ?? 0;
      await this.#appendAudit(c, '*', 'retention.applied', actor, {
        cutoff: iso, sessions, auditEntries, deletedThroughSeq: cut ? Number(cut.seq) : null, anchorHash: cut?.hash ?? null,
      }, new Date());
      return { sessions, auditEntries };
    });
  }

  async ping(): Promise<boolean> {
    await this.#pool.query('SELECT 1');
    return true;
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
