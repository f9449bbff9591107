/**
 * Versioned schema for the PostgreSQL store: the same tables and columns as the SQLite store.
 * Times stay ISO-8601 TEXT so that audit hashes are computed over identical strings on both.
 * Time columns that are compared or sorted (retention cutoffs, revocation expiry, ORDER BY) are
 * COLLATE "C": byte order, as SQLite's BINARY, whatever the database's default collation.
 */
export const POSTGRES_MIGRATIONS: readonly { version: number; sql: string; adoptAuditHead?: boolean }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY, room TEXT NOT NULL, identity TEXT NOT NULL, role TEXT NOT NULL,
        joined_at TEXT COLLATE "C" NOT NULL, remote_address_enc TEXT NOT NULL
      );
      CREATE INDEX sessions_room ON sessions(room);
      CREATE TABLE consents (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('grant', 'withdrawal')),
        policy_version TEXT, scopes TEXT NOT NULL, relation TEXT, granted_by_name_enc TEXT, method TEXT, attested_by TEXT,
        at TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX consents_session ON consents(session_id);
      CREATE TABLE locations (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
        source TEXT NOT NULL, data_enc TEXT NOT NULL, captured_at TEXT COLLATE "C" NOT NULL, recorded_at TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX locations_session ON locations(session_id);
      CREATE TABLE revocations (
        id BIGSERIAL PRIMARY KEY, room TEXT NOT NULL, identity TEXT, token_id TEXT, until TEXT COLLATE "C" NOT NULL,
        reason TEXT NOT NULL, actor TEXT NOT NULL, at TEXT COLLATE "C" NOT NULL
      );
      CREATE TABLE audit (
        seq BIGINT PRIMARY KEY, at TEXT COLLATE "C" NOT NULL, room TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
        detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
      );
      CREATE INDEX audit_room ON audit(room);
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE incidents (
        id TEXT PRIMARY KEY, room TEXT NOT NULL, participant_id TEXT NOT NULL, identity TEXT NOT NULL, role TEXT NOT NULL,
        kind TEXT NOT NULL, silent INTEGER NOT NULL, sealed_enc TEXT NOT NULL, client_incident_id TEXT NOT NULL,
        raised_at TEXT COLLATE "C" NOT NULL, UNIQUE (room, identity, client_incident_id)
      );
      CREATE TABLE incident_events (
        id BIGSERIAL PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id), type TEXT NOT NULL,
        actor TEXT NOT NULL, at TEXT COLLATE "C" NOT NULL, data TEXT NOT NULL
      );
      CREATE INDEX incident_events_incident ON incident_events(incident_id);
      CREATE TABLE webhook_attempts (
        id BIGSERIAL PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id), webhook TEXT NOT NULL,
        tier INTEGER NOT NULL, attempt INTEGER NOT NULL, at TEXT COLLATE "C" NOT NULL, status INTEGER, error TEXT
      );
      CREATE INDEX webhook_attempts_incident ON webhook_attempts(incident_id);
    `,
  },
  {
    // The signed head checkpoint of the audit trail (see the SQLite migration 3 and src/store/audit-head.ts).
    version: 3,
    adoptAuditHead: true,
    sql: `
      CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL, at TEXT NOT NULL,
        key_id TEXT NOT NULL, mac TEXT NOT NULL
      );
    `,
  },
  {
    // The readiness probe's row (Store.ping): a write that touches no record and no audit entry.
    version: 4,
    sql: 'CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);',
  },
];
