import { Type } from '@sinclair/typebox';
import { defineHandler, type HandlerContext } from '../handler.ts';
import { Participant } from '../../room/participant.ts';
import type { AdmissionRequest } from '../../room/admission.ts';
import type { Room } from '../../room/room.ts';
import { SfuError } from '../../shared/errors.ts';
import { PrintableName } from '../../domain/consent-location.ts';
import { newId } from '../../shared/ids.ts';
import { admissionRecheck } from '../admission-recheck.ts';
import { restoreSession } from '../restore-session.ts';
import { iceServersFor } from '../../media/turn-credentials.ts';
import { timingSafeEqual } from 'node:crypto';
import { checkPublicKey } from '../../room/e2ee.ts';

export const JoinData = Type.Object({
  room: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** Checked by the consent admission step (src/safety), which names the failing field. */
  consent: Type.Optional(Type.Unknown()),
  location: Type.Optional(Type.Unknown()),
  // Shown on the others' screens: no control characters (C0, DEL) and no bidirectional overrides or
  // isolates, which could make a name read as another one.
  displayName: Type.Optional(PrintableName(64)),
  resumeToken: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** The client can encrypt media end to end: its ECDH public key (checked by checkPublicKey: E2EE_INVALID_KEY). */
  e2ee: Type.Optional(Type.Object({ publicKey: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false })),
}, { additionalProperties: false });

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function joinResponse(ctx: HandlerContext, room: Room, p: Participant, resumed: boolean) {
  const speaker = room.activeSpeaker;
  return {
    participantId: p.id,
    identity: p.identity,
    role: p.role,
    roomId: room.id,
    resumeToken: p.resumeToken,
    resumed,
    /** Restored on this node after the node that hosted the session was lost: its transports and producers are gone (set up media again). */
    ...(resumed && p.restored ? { restored: true } : {}),
    routerRtpCapabilities: room.rtpCapabilities,
    participants: room.participants.filter((o) => o !== p).map((o) => o.info(p)),
    /** The room's dominant speaker now (activeSpeaker notifications are sent only on a change): absent when there is none. */
    ...(speaker ? { activeSpeaker: speaker } : {}),
    /** media.iceServers, plus a TURN entry with a credential minted for this participant when media.turn is set. */
    iceServers: iceServersFor(ctx.services.config.media.iceServers, ctx.services.config.media.turn, p.id),
    /** How the client should send its camera (it falls back to VP8 simulcast when it cannot). */
    videoPublishing: ctx.services.config.media.videoPublishing,
    reconnectGraceSeconds: ctx.services.config.signalling.reconnectGraceSeconds,
    /** With several nodes: this node's own URL (cluster.publicUrl): the panic channel and reconnections go there, not through the load balancer. */
    ...(ctx.services.config.cluster.redisUrl ? { nodeUrl: ctx.services.config.cluster.publicUrl.replace(/\/$/, '') } : {}),
    permissions: { publish: [...p.grant.publish], subscribe: p.grant.subscribe },
    /** Your consent scopes in force: without `telehealth` (withdrawn, and not given again) media methods answer CONSENT_WITHDRAWN. */
    consentScopes: [...p.facts.consentScopes],
    transports: [...p.transports.entries()].map(([transportId, t]) => ({ transportId, direction: t.direction })),
    producers: p.producerInfos(),
    /** The room's E2EE mode, whether its media is end-to-end encrypted, and then the others' public keys. */
    e2ee: room.e2eeView(p),
  };
}

/**
 * join: admission. The grant was verified at the upgrade. A participant that presents its
 * session's resume token is resumed. Otherwise the admission steps check the request (revocation,
 * consent and location); the room reserves the identity and a seat at once, then, as one step of
 * the room, the steps commit their records durably and the participant is admitted, unless the
 * connection closed or the identity was revoked meanwhile (re-checked before and after the commit).
 */
export const join = defineHandler({
  method: 'join',
  schema: JoinData,
  async handle(ctx, data) {
    if (ctx.isJoined) throw new SfuError('ALREADY_JOINED', 'this connection has already joined');
    const { services, grant } = ctx;
    if (data.room !== undefined && data.room !== grant.room) throw new SfuError('WRONG_ROOM', 'token is not valid for this room');
    // A resume keeps the key the session joined with; a restore takes it from here (the same client, the same key).
    const publicKey = data.e2ee?.publicKey;
    if (publicKey !== undefined) checkPublicKey(publicKey);
    const started = performance.now();
    await placeHere(ctx);
    const open = services.rooms.get(grant.room);
    const existing = open?.byIdentity(grant.identity);
    // A session whose connection is gone (within its grace period) is replaced by a fresh join of
    // the same identity that brings no resume token (e.g. a reloaded page): it is not locked out.
    const replaces = existing?.state === 'detached' && !data.resumeToken ? existing : undefined;
    if (open && existing && !replaces) {
      if (!data.resumeToken || !sameSecret(data.resumeToken, existing.resumeToken)) {
        throw new SfuError('DUPLICATE_IDENTITY', 'this identity is already in the room; resume with its resume token');
      }
      // A resumed participant was admitted already: its records stand, no admission steps again.
      ctx.bind(open, existing);
      return joinResponse(ctx, open, existing, true);
    }
    if (data.resumeToken) {
      // Not here: a session whose node was lost is restored from its records (docs/scaling.md, "Node loss").
      const { room, participant } = await restoreSession(ctx, data.resumeToken, data.displayName, publicKey);
      ctx.bind(room, participant);
      return joinResponse(ctx, room, participant, true);
    }

    const req: AdmissionRequest = {
      participantId: newId(), grant, data, remoteAddress: ctx.remoteAddress, facts: { consentScopes: new Set() },
      clinicians: () => new Set((services.rooms.get(grant.room)?.participants ?? []).filter((p) => p.clinical).map((p) => p.identity)),
    };
    try {
      const { room, participant } = await admit(ctx, req, { displayName: data.displayName, publicKey }, replaces);
      ctx.bind(room, participant);
      services.metrics.admission('admitted');
      services.metrics.recordJoinDuration((performance.now() - started) / 1000);
      return joinResponse(ctx, room, participant, false);
    } catch (err) {
      const code = err instanceof SfuError ? err.code : 'INTERNAL_ERROR';
      services.metrics.admission(code);
      for (const step of services.admission) await step.refused?.(req, code);
      throw err;
    }
  },
});

/**
 * A room not open on this node is placed first (docs/scaling.md, "Placement"): placed on another
 * node, the join is answered ROOM_ELSEWHERE with that node's public URL, before anything is
 * recorded or reserved here (the client joins again there). Always here on a single node.
 */
async function placeHere(ctx: HandlerContext): Promise<void> {
  const { services, grant } = ctx;
  const room = services.rooms.get(grant.room);
  if (room && !room.closed) return;
  const decision = await services.placement.place(grant.room);
  if (ctx.closed) throw new SfuError('CONNECTION_CLOSED', 'the connection closed before the join completed');
  if (decision.kind === 'elsewhere') {
    throw new SfuError('ROOM_ELSEWHERE', 'this room is hosted by another node: join there (same token, same data)', { url: decision.url });
  }
}

/** Checks, then the room's admission step (reserve, recheck, durable commit, recheck, admit): all or nothing. */
async function admit(ctx: HandlerContext, req: AdmissionRequest, who: { displayName: string | undefined; publicKey: string | undefined }, replaces: Participant | undefined) {
  const { services, grant } = ctx;
  for (const step of services.admission) await step.check(req);
  const recheck = admissionRecheck(ctx);
  recheck();
  const { room, release } = await services.rooms.reserve(grant.room);
  const resumeToken = services.resumeTokens.issue(grant.room, grant.identity, req.participantId);
  const participant = new Participant({ id: req.participantId, grant, ...who, resumeToken, facts: req.facts });
  try {
    await room.admit(participant, {
      replaces,
      recheck,
      commit: async () => {
        for (const step of services.admission) await step.commit?.(req);
      },
    });
  } finally {
    // A room opened for a join that failed, with nobody in it and no other join under way, closes.
    release();
  }
  return { room, participant };
}
