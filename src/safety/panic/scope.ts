import { deskCovers, type DeskGrant, type Grant } from '../../domain/roles.ts';
import { revokes, type Revocation, type RevocationList } from '../../auth/revocations.ts';

/** Who is on a /safety socket: a room participant, or a safety desk (with its token id, if any). */
export type Who = { kind: 'participant'; grant: Grant } | { kind: 'desk'; desk: DeskGrant; tokenId: string | undefined };

const identityTag = (identity: string) => `id:${identity}`;
const tokenTag = (tokenId: string) => `jti:${tokenId}`;

function identityOf(who: Who): { identity: string; tokenId: string | undefined } {
  return who.kind === 'desk' ? { identity: who.desk.identity, tokenId: who.tokenId } : { identity: who.grant.identity, tokenId: who.grant.tokenId };
}

/** The socket.io rooms naming a socket's identity and token id (what a revocation names). */
export function revocationTags(who: Who): string[] {
  const { identity, tokenId } = identityOf(who);
  return [identityTag(identity), ...(tokenId ? [tokenTag(tokenId)] : [])];
}

/** The tags of everyone revoked in a room now: fan-out for that room leaves their sockets out. */
export function revokedTags(revocations: RevocationList, room: string): string[] {
  return revocations.list(room).flatMap((r) => [...(r.identity ? [identityTag(r.identity)] : []), ...(r.tokenId ? [tokenTag(r.tokenId)] : [])]);
}

/** Whether this socket's identity (or token id) is revoked for the room now. */
export function isRevoked(revocations: RevocationList, who: Who, room: string): boolean {
  const { identity, tokenId } = identityOf(who);
  return revocations.find(room, identity, tokenId) !== undefined;
}

/**
 * Which rooms' incidents a responder sees and handles: a clinician its own room; a desk the rooms
 * its token covers; either way, less the rooms it is revoked in.
 */
export function inScope(revocations: RevocationList, who: Who, room: string): boolean {
  const covers = who.kind === 'participant' ? who.grant.room === room : deskCovers(who.desk, room);
  return covers && !isRevoked(revocations, who, room);
}

/** A desk with a list of rooms, revoked in every one of them: nothing is left for it. */
export function deskRevokedEverywhere(revocations: RevocationList, who: Who): boolean {
  return who.kind === 'desk' && who.desk.rooms !== '*' && [...who.desk.rooms].every((room) => isRevoked(revocations, who, room));
}

/**
 * Whether a revocation that just took hold ends this socket: a participant's of that room, or a
 * desk it leaves with no room at all. A desk keeping other rooms stays, without the revoked one.
 */
export function endedBy(revocations: RevocationList, who: Who, r: Revocation): boolean {
  const { identity, tokenId } = identityOf(who);
  if (!revokes(r, identity, tokenId)) return false;
  return who.kind === 'participant' ? who.grant.room === r.room : deskRevokedEverywhere(revocations, who);
}
