import type { HandlerContext } from './handler.ts';
import { Participant, type ParticipantFacts } from '../room/participant.ts';
import type { Room } from '../room/room.ts';
import type { ParticipantRecords } from '../store/types.ts';
import { durableWrite } from '../safety/timed.ts';
import { SfuError } from '../shared/errors.ts';
import { admissionRecheck } from './admission-recheck.ts';

const invalid = (why: string) => new SfuError('RESUME_TOKEN_INVALID', `no session to resume (${why}); join without a resume token`);

/**
 * A resume token whose session is not on this node (docs/scaling.md, "Node loss"): the session's
 * node was lost and the room is now here. The token names the session and its last node; the
 * roster (Redis) hands the session to exactly one node, and only within the resume window after
 * its node last saw it; its consent and location come from its admission records, which stand:
 * no new admission record, one audit entry `session.restored`. The participant keeps its id and
 * the others are told `participantJoined` with `restored: true`. Anything else is
 * RESUME_TOKEN_INVALID (the client then joins as a new session).
 */
export async function restoreSession(ctx: HandlerContext, token: string, displayName: string | undefined, publicKey: string | undefined): Promise<{ room: Room; participant: Participant }> {
  const { services, grant } = ctx;
  const claimToken = services.resumeTokens.read(token, grant.room, grant.identity);
  if (!claimToken) throw invalid('not a token of this room and identity');
  const claim = await services.roster.claim(grant.room, claimToken.sessionId, claimToken.node);
  if (claim.kind !== 'claimed') {
    services.metrics.sessionRestore(claim.kind);
    throw invalid(claim.kind === 'elsewhere' ? 'the room is on another node' : claim.kind === 'unavailable' ? 'the cluster could not be asked in time' : 'it ended or its window passed');
  }
  if (claim.entry.identity !== grant.identity || claim.entry.role !== grant.role) {
    services.metrics.sessionRestore('refused');
    throw invalid('the token\'s role does not match the session');
  }
  let records: ParticipantRecords | undefined;
  try {
    records = await services.store.sessionRecords(grant.room, claimToken.sessionId);
  } catch {
    services.metrics.sessionRestore('unavailable');
    throw invalid('its records could not be read in time');
  }
  if (!records || records.identity !== grant.identity || records.role !== grant.role) {
    services.metrics.sessionRestore('refused');
    throw invalid('no admission record');
  }
  const participant = new Participant({
    id: claimToken.sessionId, grant, displayName, publicKey, restored: true, facts: factsOf(records),
    resumeToken: services.resumeTokens.issue(grant.room, grant.identity, claimToken.sessionId),
  });
  const recheck = admissionRecheck(ctx);
  recheck();
  const { room, release } = await services.rooms.reserve(grant.room);
  try {
    await room.admit(participant, {
      recheck,
      commit: () => durableWrite(services.metrics, 'restore', () => services.store.audit({
        room: grant.room, kind: 'session.restored', actor: grant.identity,
        detail: { sessionId: participant.id, role: grant.role, fromNode: claimToken.node }, at: new Date(),
      })),
    });
  } finally {
    release();
  }
  services.metrics.sessionRestore('restored');
  return { room, participant };
}

/** The consent scopes in force (granted, minus every withdrawal since) and the latest location, from the records. */
function factsOf(records: ParticipantRecords): ParticipantFacts {
  const scopes = new Set<string>();
  for (const c of records.consents) {
    for (const s of c.scopes) {
      if (c.kind === 'grant') scopes.add(s);
      else scopes.delete(s);
    }
  }
  const latest = records.locations.at(-1);
  return {
    consentScopes: scopes,
    ...(latest ? { location: { region: latest.region, description: latest.description } } : {}),
    ...(latest?.emergencyContact ? { emergencyContact: latest.emergencyContact } : {}),
  };
}
