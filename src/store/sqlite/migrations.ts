/**
 * Versioned schema for the SQLite store; applied in order, each once (table schema_migrations).
 * `adoptAuditHead`: after the SQL, in the same transaction, the store signs the trail's newest entry
 * as the first head checkpoint (a trail written before checkpoints existed is trusted as found).
 */
export const SQLITE_MIGRATIONS: readonly { version: number; sql: string; adoptAuditHead?: boolean }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        room TEXT NOT NULL,
        identity TEXT NOT NULL,
        role TEXT NOT NULL,
        joined_at TEXT NOT NULL,
        remote_address_enc TEXT NOT NULL
      );
      CREATE INDEX sessions_room ON sessions(room);
      CREATE TABLE consents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('grant', 'withdrawal')),
        policy_version TEXT,
        scopes TEXT NOT NULL,
        relation TEXT,
        granted_by_name_enc TEXT,
        method TEXT,
        attested_by TEXT,
        at TEXT NOT NULL
      );
      CREATE INDEX consents_session ON consents(session_id);
      CREATE TABLE locations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        data_enc TEXT NOT NULL,
        captured_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL
      );
      CREATE INDEX locations_session ON locations(session_id);
      CREATE TABLE revocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        identity TEXT,
        token_id TEXT,
        until TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        room TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_room ON audit(room);
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        room TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        identity TEXT NOT NULL,
        role TEXT NOT NULL,
        kind TEXT NOT NULL,
        silent INTEGER NOT NULL,
        sealed_enc TEXT NOT NULL,
        client_incident_id TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        UNIQUE (room, identity, client_incident_id)
      );
      CREATE TABLE incident_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents(id),
        type TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        data TEXT NOT NULL
      );
      CREATE INDEX incident_events_incident ON incident_events(incident_id);
      CREATE TABLE webhook_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents(id),
        webhook TEXT NOT NULL,
        tier INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        status INTEGER,
        error TEXT
      );
      CREATE INDEX webhook_attempts_incident ON webhook_attempts(incident_id);
    `,
  },
  {
    // The signed head checkpoint of the audit trail (src/store/audit-head.ts): one row, rewritten in
    // the transaction of every append; apart from the entries, so a DELETE on audit leaves it.
    version: 3,
    adoptAuditHead: true,
    sql: `
      CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        key_id TEXT NOT NULL,
        mac TEXT NOT NULL
      );
    `,
  },
  {
    // The readiness probe's row (Store.ping): a write transaction that touches no record and no audit entry.
    version: 4,
    sql: 'CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);',
  },
];
