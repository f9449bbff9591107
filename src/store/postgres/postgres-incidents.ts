import type pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import {
  deriveIncident, type Incident, type IncidentEvent, type IncidentRaise, type IncidentStore, type WebhookAttempt,
} from '../../domain/incident.ts';
import type { AppendAudit, Tx } from './postgres-store.ts';

interface RaiseRow {
  id: string; room: string; participant_id: string; identity: string; role: string; kind: string;
  silent: number; sealed_enc: string; client_incident_id: string; raised_at: string;
}

/** Incidents in PostgreSQL: the same append-only model as the SQLite incident store. */
export class PostgresIncidentStore implements IncidentStore {
  readonly #pool: pg.Pool;
  readonly #tx: Tx;
  readonly #audit: AppendAudit;
  readonly #cipher: FieldCipher;

  constructor(pool: pg.Pool, tx: Tx, audit: AppendAudit, cipher: FieldCipher) {
    this.#pool = pool;
    this.#tx = tx;
    this.#audit = audit;
    this.#cipher = cipher;
  }

  async #load(q: pg.Pool | pg.PoolClient, row: RaiseRow | undefined): Promise<Incident | undefined> {
    if (!row) return undefined;
    const sealed = this.#cipher.openJson<{ note?: string; coordinates?: IncidentRaise['coordinates'] }>(row.sealed_enc);
    const raise: IncidentRaise = {
      id: row.id, room: row.room, participantId: row.participant_id, identity: row.identity, role: row.role as IncidentRaise['role'],
      kind: row.kind as IncidentRaise['kind'], silent: Number(row.silent) === 1, note: sealed.note, coordinates: sealed.coordinates,
      clientIncidentId: row.client_incident_id, raisedAt: row.raised_at,
    };
    return deriveIncident(raise, await this.#events(q, row.id));
  }

  async #events(q: pg.Pool | pg.PoolClient, incidentId: string): Promise<IncidentEvent[]> {
    return (await q.query('SELECT incident_id, type, actor, at, data FROM incident_events WHERE incident_id = $1 ORDER BY id', [incidentId])).rows
      .map((r) => ({ incidentId: r.incident_id, type: r.type, actor: r.actor, at: r.at, data: JSON.parse(r.data) }) as IncidentEvent);
  }

  async events(incidentId: string): Promise<IncidentEvent[]> {
    return this.#events(this.#pool, incidentId);
  }

  async raise(r: IncidentRaise): Promise<{ incident: Incident; created: boolean }> {
    // The lock first: two raises of one key (a spool replay and a late direct write) see each other's row instead of colliding.
    return this.#tx(async (c) => {
      const existing = (await c.query('SELECT * FROM incidents WHERE room = $1 AND identity = $2 AND client_incident_id = $3', [r.room, r.identity, r.clientIncidentId])).rows[0] as RaiseRow | undefined;
      if (existing) return { incident: (await this.#load(c, existing))!, created: false };
      await c.query(`INSERT INTO incidents (id, room, participant_id, identity, role, kind, silent, sealed_enc, client_incident_id, raised_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [r.id, r.room, r.participantId, r.identity, r.role, r.kind, r.silent ? 1 : 0,
        this.#cipher.sealJson({ note: r.note, coordinates: r.coordinates }), r.clientIncidentId, r.raisedAt]);
      await this.#audit(c, r.room, 'panic.raised', r.identity, { incidentId: r.id, participantId: r.participantId, role: r.role, kind: r.kind, silent: r.silent }, new Date(r.raisedAt));
      return { incident: deriveIncident(r, []), created: true };
    }, { lockFirst: true });
  }

  async append(e: IncidentEvent): Promise<Incident> {
    return this.#tx(async (c) => {
      const row = (await c.query('SELECT * FROM incidents WHERE id = $1', [e.incidentId])).rows[0] as RaiseRow | undefined;
      if (!row) throw new Error(`no incident ${e.incidentId}`);
      await c.query('INSERT INTO incident_events (incident_id, type, actor, at, data) VALUES ($1, $2, $3, $4, $5)', [e.incidentId, e.type, e.actor, e.at, JSON.stringify(e.data)]);
      await this.#audit(c, row.room, `panic.${e.type}`, e.actor, { incidentId: e.incidentId, ...e.data }, new Date(e.at));
      return (await this.#load(c, row))!;
    });
  }

  async get(id: string): Promise<Incident | undefined> {
    return this.#load(this.#pool, (await this.#pool.query('SELECT * FROM incidents WHERE id = $1', [id])).rows[0] as RaiseRow | undefined);
  }

  async open(): Promise<Incident[]> {
    const rows = (await this.#pool.query(`SELECT * FROM incidents WHERE id NOT IN (SELECT incident_id FROM incident_events WHERE type = 'resolved') ORDER BY raised_at`)).rows as RaiseRow[];
    const out: Incident[] = [];
    for (const r of rows) out.push((await this.#load(this.#pool, r))!);
    return out;
  }

  async recordWebhookAttempt(a: WebhookAttempt): Promise<void> {
    await this.#pool.query('INSERT INTO webhook_attempts (incident_id, webhook, tier, attempt, at, status, error) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [a.incidentId, a.webhook, a.tier, a.attempt, a.at, a.status, a.error ?? null]);
  }

  async webhookAttempts(incidentId: string): Promise<WebhookAttempt[]> {
    return (await this.#pool.query('SELECT * FROM webhook_attempts WHERE incident_id = $1 ORDER BY id', [incidentId])).rows.map((r) => ({
      incidentId: r.incident_id, webhook: r.webhook, tier: Number(r.tier), attempt: Number(r.attempt), at: r.at,
      status: r.status === null ? null : Number(r.status), error: r.error ?? undefined,
    }));
  }
}
