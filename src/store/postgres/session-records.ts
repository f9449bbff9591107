import type pg from 'pg';
import type { FieldCipher } from '../cipher.ts';
import { consentFromRow, locationFromRow, type ConsentRow, type LocationRow } from '../record-codec.ts';
import type { ParticipantRecords } from '../types.ts';

/**
 * One session's records on PostgreSQL (a session restored on another node,
 * src/signalling/restore-session.ts): its row by primary key, then its consents and locations by
 * their session indexes, in record order. Undefined when the room has no such session. The caller
 * bounds it (PostgresStore, store.callTimeoutMs).
 */
export async function sessionRecords(db: Pick<pg.Pool, 'query'>, cipher: FieldCipher, room: string, sessionId: string): Promise<ParticipantRecords | undefined> {
  const s = (await db.query('SELECT session_id, identity, role, joined_at FROM sessions WHERE session_id = $1 AND room = $2', [sessionId, room])).rows[0];
  if (!s) return undefined;
  const consents = (await db.query('SELECT kind, policy_version, scopes, relation, granted_by_name_enc, method, attested_by, at FROM consents WHERE session_id = $1 ORDER BY id', [sessionId])).rows as ConsentRow[];
  const locations = (await db.query('SELECT source, data_enc, captured_at, recorded_at FROM locations WHERE session_id = $1 ORDER BY id', [sessionId])).rows as LocationRow[];
  return {
    sessionId: s.session_id, identity: s.identity, role: s.role, joinedAt: s.joined_at,
    consents: consents.map((c) => consentFromRow(c, cipher)),
    locations: locations.map((l) => locationFromRow(l, cipher)),
  };
}
