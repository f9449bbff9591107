import type pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import { consentFromRow, locationFromRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type { ParticipantRecords } from '../types.ts';

/** A `sessions` row as the record queries select it. */
export interface SessionRow { session_id: string; identity: string; role: string; joined_at: string }

const SESSION_COLUMNS = 'session_id, identity, role, joined_at';

/** One session's records from its row: its consents and locations by their session indexes, in record order. */
export async function recordsOf(db: Pick<pg.Pool, 'query'>, cipher: FieldCipher, s: SessionRow): Promise<ParticipantRecords> {
  const [consents, locations] = await Promise.all([
    db.query('SELECT kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at FROM consents WHERE session_id = $1 ORDER BY id', [s.session_id]),
    db.query('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = $1 ORDER BY id', [s.session_id]),
  ]);
  return {
    sessionId: s.session_id, identity: s.identity, role: s.role as ParticipantRecords['role'], joinedAt: s.joined_at,
    consents: (consents.rows as ConsentRow[]).map((c) => consentFromRow(c, cipher)),
    locations: (locations.rows as LocationRow[]).map((l) => locationFromRow(l, cipher)),
  };
}

/** Every session of a room, in joining order, with its records. */
export async function roomRecords(db: Pick<pg.Pool, 'query'>, cipher: FieldCipher, room: string): Promise<ParticipantRecords[]> {
  const sessions = (await db.query(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE room = $1 ORDER BY joined_at, session_id`, [room])).rows as SessionRow[];
  const out: ParticipantRecords[] = [];
  for (const s of sessions) out.push(await recordsOf(db, cipher, s));
  return out;
}

/**
 * One session's records on PostgreSQL (a session restored on another node,
 * src/signalling/restore-session.ts): its row by primary key, then its records. Undefined when the
 * room has no such session. The caller bounds it (PostgresStore, store.callTimeoutMs).
 */
export async function sessionRecords(db: Pick<pg.Pool, 'query'>, cipher: FieldCipher, room: string, sessionId: string): Promise<ParticipantRecords | undefined> {
  const s = (await db.query(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1 AND room = $2`, [sessionId, room])).rows[0] as SessionRow | undefined;
  return s ? recordsOf(db, cipher, s) : undefined;
}
