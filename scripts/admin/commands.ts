/**
 * The commands of `npm run admin`, one handler each, in a table (no dispatch switch). A handler
 * returns what `--json` prints (`data`) and what a person reads (`text`); it prints nothing itself.
 * What each shows is what the admin API answers, minus what the command is not for: lists carry ids,
 * roles, times and counts; only `record` shows a person's consent and location records.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import type { AuditEntry, AuditHeadStatus, AuditVerification, ParticipantRecords } from '../../src/store/types.ts';
import { AdminError, type AdminApi } from './api.ts';
import { count, fields, table } from './format.ts';
import { incidentReport } from './incident-report.ts';

export interface Output {
  readonly data: unknown;
  readonly text: string;
  /** Non-zero when the answer is a finding (a broken audit chain); the message goes to stderr. */
  readonly failure?: AdminError;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  /** Positional arguments, in order; all required. */
  readonly positionals: readonly string[];
  /** The options after them, as the usage line shows them. */
  readonly usage?: string;
  readonly summary: string;
  readonly options?: ParseArgsOptionsConfig;
  run(api: AdminApi, args: Record<string, string>, values: Values): Promise<Output>;
}

interface RoomSummary { roomId: string; participants: number; workerPid: number; e2ee: { mode: string; active: boolean } }
interface LiveParticipant {
  participantId: string; identity: string; role: string; connected: boolean; e2ee: boolean; joinedAt: string; producers: number; consumers: number;
  transports: { direction: string; iceState: string; dtlsState: string; protocol?: string }[];
}
interface Revocation { room: string; identity?: string; tokenId?: string; until: string; reason: string }

const room = (r: string) => `/rooms/${encodeURIComponent(r)}`;

/** A session's records without what identifies or locates a person: the list view of `records`. */
function sessionSummary(p: ParticipantRecords) {
  const latest = p.consents.at(-1);
  return {
    sessionId: p.sessionId, identity: p.identity, role: p.role, joinedAt: p.joinedAt,
    consent: latest ? { kind: latest.kind, scopes: latest.scopes, at: latest.at } : null,
    consentEvents: p.consents.length, locationRecords: p.locations.length,
  };
}

/**
 * A check of the audit trail (`verify`, `head`): what GET `path` answers, shown by `text`; a
 * failure (exit 1, the reason on stderr) when the answer says the chain is broken.
 */
function auditCheck<T extends AuditVerification | AuditHeadStatus>(summary: string, path: string, what: string, text: (v: T) => string): Command {
  return {
    positionals: [],
    summary,
    async run(api) {
      const v = await api.request<T>('GET', path);
      if (v.ok) return { data: v, text: text(v) };
      const failure = new AdminError('AUDIT_CHAIN_BROKEN', `${what} BROKEN at entry ${v.brokenAt}: ${v.reason}${v.firstMissing !== undefined ? `; first missing entry: ${v.firstMissing}` : ''}`);
      return { data: v, text: text(v), failure };
    },
  };
}

const checkpointText = (v: { checkpoint?: { seq: number; hash: string; at: string; keyId: string } | null | undefined }) =>
  (v.checkpoint ? `entry ${v.checkpoint.seq}, hash ${v.checkpoint.hash}, signed ${v.checkpoint.at} with key ${v.checkpoint.keyId}` : 'none yet (empty trail)');

export const COMMANDS: Readonly<Record<string, Command>> = {
  rooms: {
    positionals: [],
    summary: 'the rooms open on this node, with their participant counts and end-to-end encryption',
    async run(api) {
      const { rooms } = await api.request<{ rooms: RoomSummary[] }>('GET', '/rooms');
      // E2EE: the room's mode, and whether its media is end-to-end encrypted (docs/security.md).
      const e2ee = (r: RoomSummary) => `${r.e2ee.mode}${r.e2ee.mode === 'off' ? '' : r.e2ee.active ? ' (encrypted)' : ' (not encrypted)'}`;
      return { data: { rooms }, text: table(['ROOM', 'PARTICIPANTS', 'WORKER PID', 'E2EE'], rooms.map((r) => [r.roomId, r.participants, r.workerPid, e2ee(r)]), 'no rooms open on this node') };
    },
  },

  participants: {
    positionals: ['room'],
    summary: "a room's participants on this node: identity, role, connection, media, transports",
    async run(api, { room: r }) {
      const { participants } = await api.request<{ participants: LiveParticipant[] }>('GET', `${room(r!)}/participants`);
      const rows = participants.map((p) => [p.participantId, p.identity, p.role, p.connected ? 'yes' : 'grace', p.joinedAt, p.producers, p.consumers,
        p.transports.map((t) => `${t.direction}:${t.protocol ?? t.iceState}`).join(',') || '-']);
      return { data: { participants }, text: table(['PARTICIPANT', 'IDENTITY', 'ROLE', 'CONNECTED', 'JOINED', 'PRODUCERS', 'CONSUMERS', 'TRANSPORTS'], rows, 'nobody in this room') };
    },
  },

  kick: {
    positionals: ['room'],
    usage: '(--identity ID | --token-id JTI) [--duration SECONDS] [--reason TEXT]',
    summary: 'remove a participant and deny the identity or token id in the room (default one hour)',
    options: { identity: { type: 'string' }, 'token-id': { type: 'string' }, duration: { type: 'string' }, reason: { type: 'string' } },
    async run(api, { room: r }, v) {
      if (!v.identity && !v['token-id']) throw new AdminError('USAGE', 'kick needs --identity or --token-id');
      const duration = v.duration === undefined ? undefined : Number(v.duration);
      if (duration !== undefined && !(Number.isInteger(duration) && duration >= 0)) throw new AdminError('USAGE', '--duration is a whole number of seconds (0: kick without a lasting denial)');
      const body = {
        ...(v.identity ? { identity: v.identity } : {}), ...(v['token-id'] ? { tokenId: v['token-id'] } : {}),
        ...(duration !== undefined ? { durationSeconds: duration } : {}), ...(typeof v.reason === 'string' ? { reason: v.reason } : {}),
      };
      const res = await api.request<{ kicked: number; revokedUntil: string }>('POST', `${room(r!)}/kick`, body);
      const who = v.identity ? `identity ${v.identity}` : `token id ${v['token-id']}`;
      return { data: res, text: `kicked ${count(res.kicked, 'participant', 'participants')} from ${r}; ${who} denied in that room until ${res.revokedUntil}` };
    },
  },

  revocations: {
    positionals: ['room'],
    summary: "a room's revocations that have not expired",
    async run(api, { room: r }) {
      const { revocations } = await api.request<{ revocations: Revocation[] }>('GET', `${room(r!)}/revocations`);
      return { data: { revocations }, text: table(['IDENTITY', 'TOKEN ID', 'UNTIL', 'REASON'], revocations.map((x) => [x.identity, x.tokenId, x.until, x.reason]), 'no revocations in force for this room') };
    },
  },

  close: {
    positionals: ['room'],
    summary: 'close a room on this node (everyone receives roomClosed; nothing is revoked)',
    async run(api, { room: r }) {
      const res = await api.request<{ closed: boolean }>('DELETE', room(r!));
      return { data: res, text: `closed room ${r}` };
    },
  },

  records: {
    positionals: ['room'],
    summary: "a room's sessions from the store (also people who left): ids, roles, consent state, counts; no names or locations",
    async run(api, { room: r }) {
      const { participants } = await api.request<{ participants: ParticipantRecords[] }>('GET', `${room(r!)}/records`);
      const sessions = participants.map(sessionSummary);
      const rows = sessions.map((s) => [s.sessionId, s.identity, s.role, s.joinedAt, s.consent ? `${s.consent.kind === 'grant' ? 'granted' : 'withdrawn'} ${s.consent.scopes.join('+')}` : '-', s.locationRecords]);
      return { data: { room: r, sessions }, text: table(['SESSION', 'IDENTITY', 'ROLE', 'JOINED', 'CONSENT', 'LOCATIONS'], rows, 'no records for this room') };
    },
  },

  record: {
    positionals: ['room', 'session'],
    summary: "one session's consent and location records in full (personal data: names, places, emergency contacts)",
    async run(api, { room: r, session }) {
      const { participants } = await api.request<{ participants: ParticipantRecords[] }>('GET', `${room(r!)}/records`);
      const p = participants.find((x) => x.sessionId === session);
      if (!p) throw new AdminError('NOT_FOUND', `no session ${session} in the records of room ${r}`);
      const consents = p.consents.map((c) => `  ${c.at}  ${c.kind === 'grant' ? 'granted' : 'withdrew'} ${c.scopes.join('+')}`
        + (c.kind === 'grant' ? ` (policy ${c.policyVersion}, ${c.method}, by ${c.grantedBy.relation} ${c.grantedBy.name}${c.attestedBy ? `, attested by ${c.attestedBy}` : ''})` : ''));
      const locations = p.locations.map((l) => `  ${l.recordedAt}  ${l.region}, ${l.description} (${l.source}`
        + `${l.coordinates ? `, ${l.coordinates.lat},${l.coordinates.lon}` : ''})${l.emergencyContact ? `; emergency contact ${l.emergencyContact.name}, ${l.emergencyContact.phone}` : ''}`);
      const text = [fields([['session', p.sessionId], ['identity', p.identity], ['role', p.role], ['joined', p.joinedAt]]),
        'consent:', ...consents, 'locations:', ...locations].join('\n');
      return { data: p, text };
    },
  },

  audit: {
    positionals: ['room'],
    usage: '[--incident ID]',
    summary: "a room's audit entries (ids, roles, codes; never a name or a place); --incident: one panic incident's",
    options: { incident: { type: 'string' } },
    async run(api, { room: r }, v) {
      const { entries } = await api.request<{ entries: AuditEntry[] }>('GET', `${room(r!)}/audit`);
      const shown = typeof v.incident === 'string' ? entries.filter((e) => (JSON.parse(e.detail) as { incidentId?: string }).incidentId === v.incident) : entries;
      return { data: { room: r, entries: shown }, text: table(['SEQ', 'AT', 'KIND', 'ACTOR', 'DETAIL'], shown.map((e) => [e.seq, e.at, e.kind, e.actor, e.detail]), 'no audit entries') };
    },
  },

  verify: auditCheck<AuditVerification>(
    'verify the whole audit hash chain against its signed head checkpoint (exit 1 when broken)', '/audit/verify', 'audit chain',
    (v) => (v.ok ? `audit chain intact: ${count(v.entries, 'entry', 'entries')}, reaching the signed head checkpoint (${checkpointText(v)})` : `audit chain BROKEN (${count(v.entries, 'entry', 'entries')})`),
  ),

  head: auditCheck<AuditHeadStatus>(
    'the signed head checkpoint (copy seq:hash elsewhere; exit 1 when the newest entry is not the one it names)', '/audit/head', 'audit head',
    (h) => (h.checkpoint ? `${h.checkpoint.seq}:${h.checkpoint.hash}\n${checkpointText(h)}` : 'no checkpoint yet (empty trail)'),
  ),

  'incident-report': incidentReport,
};
