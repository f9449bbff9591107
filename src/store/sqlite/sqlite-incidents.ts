import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { statementCache } from './statements.ts';
import type { FieldCipher } from '../cipher.ts';
import { deriveIncident, type Incident, type IncidentEvent, type IncidentRaise, type WebhookAttempt } from '../../domain/incident.ts';

type Audit = (room: string, kind: string, actor: string, detail: Record<string, unknown>, at: Date) => void;
type Tx = <T>(fn: () => T) => T;

interface RaiseRow {
  id: string; room: string; participant_id: string; identity: string; role: string; kind: string;
  silent: number; sealed_enc: string; client_incident_id: string; raised_at: string;
}

/**
 * Incidents in the SQLite store: a raise row written once, then appended events; each write and
 * its audit entry in one transaction. The note and coordinates are sealed. Synchronous, in the
 * store's worker thread (see SqliteDatabase); SqliteStore.incidents is the IncidentStore.
 */
export class SqliteIncidents {
  readonly #db: DatabaseSync;
  readonly #sql: (sql: string) => StatementSync;
  readonly #tx: Tx;
  readonly #audit: Audit;
  readonly #cipher: FieldCipher;

  constructor(db: DatabaseSync, tx: Tx, audit: Audit, cipher: FieldCipher) {
    this.#db = db;
    this.#sql = statementCache(this.#db);
    this.#tx = tx;
    this.#audit = audit;
    this.#cipher = cipher;
  }

  #raiseFromRow(r: RaiseRow): IncidentRaise {
    const sealed = this.#cipher.openJson<{ note?: string; coordinates?: IncidentRaise['coordinates'] }>(r.sealed_enc);
    return {
      id: r.id, room: r.room, participantId: r.participant_id, identity: r.identity, role: r.role as IncidentRaise['role'],
      kind: r.kind as IncidentRaise['kind'], silent: r.silent === 1, note: sealed.note, coordinates: sealed.coordinates,
      clientIncidentId: r.client_incident_id, raisedAt: r.raised_at,
    };
  }

  #events(id: string): IncidentEvent[] {
    return (this.#sql('SELECT incident_id, type, actor, at, data FROM incident_events WHERE incident_id = ? ORDER BY id').all(id) as Record<string, string>[])
      .map((r) => ({ incidentId: r.incident_id!, type: r.type as IncidentEvent['type'], actor: r.actor!, at: r.at!, data: JSON.parse(r.data!) as Record<string, unknown> }));
  }

  #load(row: RaiseRow | undefined): Incident | undefined {
    return row ? deriveIncident(this.#raiseFromRow(row), this.#events(row.id)) : undefined;
  }

  raise(r: IncidentRaise): { incident: Incident; created: boolean } {
    return this.#tx(() => {
      const existing = this.#sql('SELECT * FROM incidents WHERE room = ? AND identity = ? AND client_incident_id = ?')
        .get(r.room, r.identity, r.clientIncidentId) as RaiseRow | undefined;
      if (existing) return { incident: this.#load(existing)!, created: false };
      this.#sql(`INSERT INTO incidents (id, room, participant_id, identity, role, kind, silent, sealed_enc, client_incident_id, raised_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(r.id, r.room, r.participantId, r.identity, r.role, r.kind, r.silent ? 1 : 0,
        this.#cipher.sealJson({ note: r.note, coordinates: r.coordinates }), r.clientIncidentId, r.raisedAt);
      this.#audit(r.room, 'panic.raised', r.identity, { incidentId: r.id, participantId: r.participantId, role: r.role, kind: r.kind, silent: r.silent }, new Date(r.raisedAt));
      return { incident: deriveIncident(r, []), created: true };
    });
  }

  append(e: IncidentEvent): Incident {
    return this.#tx(() => {
      const row = this.#sql('SELECT * FROM incidents WHERE id = ?').get(e.incidentId) as RaiseRow | undefined;
      if (!row) throw new Error(`no incident ${e.incidentId}`);
      this.#sql('INSERT INTO incident_events (incident_id, type, actor, at, data) VALUES (?, ?, ?, ?, ?)')
        .run(e.incidentId, e.type, e.actor, e.at, JSON.stringify(e.data));
      this.#audit(row.room, `panic.${e.type}`, e.actor, { incidentId: e.incidentId, ...e.data }, new Date(e.at));
      return this.#load(row)!;
    });
  }

  get(id: string): Incident | undefined {
    return this.#load(this.#sql('SELECT * FROM incidents WHERE id = ?').get(id) as RaiseRow | undefined);
  }

  events(incidentId: string): IncidentEvent[] {
    return this.#events(incidentId);
  }

  open(): Incident[] {
    const rows = this.#sql(`SELECT * FROM incidents WHERE id NOT IN (SELECT incident_id FROM incident_events WHERE type = 'resolved') ORDER BY raised_at`).all() as unknown as RaiseRow[];
    return rows.map((r) => this.#load(r)!);
  }

  recordWebhookAttempt(a: WebhookAttempt): void {
    this.#sql('INSERT INTO webhook_attempts (incident_id, webhook, tier, attempt, at, status, error) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.incidentId, a.webhook, a.tier, a.attempt, a.at, a.status, a.error ?? null);
  }

  webhookAttempts(incidentId: string): WebhookAttempt[] {
    return (this.#sql('SELECT * FROM webhook_attempts WHERE incident_id = ? ORDER BY id').all(incidentId) as Record<string, string | number | null>[])
      .map((r) => ({
        incidentId: String(r.incident_id), webhook: String(r.webhook), tier: Number(r.tier), attempt: Number(r.attempt), at: String(r.at),
        status: r.status === null ? null : Number(r.status), error: r.error === null ? undefined : String(r.error),
      }));
  }
}
