import { Type, type Static } from '@sinclair/typebox';
import { ROLES, type Role } from '../../domain/roles.ts';
import { OUTCOMES } from '../../domain/incident.ts';
import { compile } from './events.ts';
import type { Who } from './scope.ts';

const Id = Type.String({ minLength: 1, maxLength: 256 });

/** A /safety socket's identity as another node needs it to check scope and revocations (no token, no expiry). */
const WireWho = Type.Union([
  Type.Object({ kind: Type.Literal('desk'), identity: Id, rooms: Type.Union([Type.Literal('*'), Type.Array(Id, { maxItems: 1000 })]), tokenId: Type.Optional(Id) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('participant'), room: Id, identity: Id, role: Type.Union(ROLES.map((r) => Type.Literal(r))), tokenId: Type.Optional(Id) }, { additionalProperties: false }),
]);

/** An ack, cancel or resolve sent to the node holding the incident (version 1), validated strictly where it arrives. */
export const RemoteCommand = compile(Type.Object({
  v: Type.Literal(1),
  op: Type.Union([Type.Literal('ack'), Type.Literal('cancel'), Type.Literal('resolve')]),
  incidentId: Type.String({ minLength: 1, maxLength: 64 }),
  outcome: Type.Optional(Type.Union(OUTCOMES.map((o) => Type.Literal(o)))),
  note: Type.Optional(Type.String({ maxLength: 1000 })),
  acknowledge: Type.Optional(Type.Boolean()),
  who: WireWho,
}, { additionalProperties: false }));

export type RemoteReply = { ok: true; data: unknown } | { ok: false; error: { code: string; message: string } };

export function isRemoteReply(v: unknown): v is RemoteReply {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  if (r.ok === true) return 'data' in r;
  const e = r.error as Record<string, unknown> | undefined;
  return r.ok === false && typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string';
}

export function toWire(who: Who): Static<typeof WireWho> {
  if (who.kind === 'desk') {
    return { kind: 'desk', identity: who.desk.identity, rooms: who.desk.rooms === '*' ? '*' : [...who.desk.rooms], ...(who.tokenId ? { tokenId: who.tokenId } : {}) };
  }
  const g = who.grant;
  return { kind: 'participant', room: g.room, identity: g.identity, role: g.role, ...(g.tokenId ? { tokenId: g.tokenId } : {}) };
}

/** The Who another node's command acts as: the same scope and revocation checks apply (its token was verified there). */
export function fromWire(w: Static<typeof WireWho>): Who {
  if (w.kind === 'desk') {
    return { kind: 'desk', desk: { identity: w.identity, rooms: w.rooms === '*' ? '*' : new Set(w.rooms), expiresAt: 0 }, tokenId: w.tokenId };
  }
  return {
    kind: 'participant',
    grant: { room: w.room, identity: w.identity, role: w.role as Role, publish: new Set(), subscribe: false, tokenId: w.tokenId, expiresAt: 0 },
  };
}
