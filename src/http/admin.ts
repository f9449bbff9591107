import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../auth/grant.ts';
import type { RevocationList } from '../auth/revocations.ts';
import { revokedParticipants } from '../safety/revocation-enforcer.ts';
import type { RoomRegistry } from '../room/registry.ts';
import { bearerCredential } from '../shared/bearer.ts';
import { SfuError } from '../shared/errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Store } from '../store/types.ts';
import { adminRecordRoutes } from './admin-records.ts';

export interface AdminOptions {
  readonly adminToken: string;
  readonly store: Store;
  readonly rooms: RoomRegistry;
  readonly revocations: RevocationList;
  readonly log: Logger;
}

const RoomParams = Type.Object({ room: Id });
const KickBody = Type.Object({
  identity: Type.Optional(Id),
  tokenId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** How long the denial lasts; default one hour. */
  durationSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 366 * 24 * 3600 })),
  reason: Type.Optional(Type.String({ maxLength: 200, pattern: '^[^\\u0000-\\u001f]*$' })),
}, { additionalProperties: false });

function authorize(req: FastifyRequest, expected: string): void {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(bearerCredential(header) ?? '');
  const want = Buffer.from(expected);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new SfuError('ADMIN_UNAUTHORIZED', 'admin credential required (Authorization: Bearer <SFU_ADMIN_TOKEN>)');
  }
}

/** Admin REST API under /admin, behind its own bearer credential (never a room token). */
export async function adminRoutes(app: FastifyInstance, opts: AdminOptions): Promise<void> {
  const { rooms, revocations } = opts;
  app.addHook('onRequest', async (req) => authorize(req, opts.adminToken));
  // Answers carry identities, and records carry personal data: never kept by a cache on the way.
  app.addHook('onSend', async (_req, reply) => { reply.header('cache-control', 'no-store'); });
  await app.register(adminRecordRoutes, { store: opts.store });

  app.get('/rooms', async () => ({
    rooms: rooms.rooms.map((r) => ({ roomId: r.id, participants: r.size, workerPid: r.workerPid, e2ee: r.e2ee })),
  }));

  app.get<{ Params: Static<typeof RoomParams> }>('/rooms/:room/participants', { schema: { params: RoomParams } }, async (req) => {
    const room = rooms.get(req.params.room);
    if (!room) throw new SfuError('NOT_FOUND', 'no such room on this node');
    const { active } = room.e2ee;
    return {
      participants: room.participants.map((p) => ({
        participantId: p.id, identity: p.identity, role: p.role, connected: p.connected,
        // Whether this session's media is end-to-end encrypted (the room is, and so every participant in it).
        e2ee: active,
        joinedAt: new Date(p.joinedAt).toISOString(), producers: p.producers.size, consumers: p.consumers.size,
        // How each media transport reaches the worker: 'tcp' is ICE over TCP (UDP blocked on the way).
        transports: [...p.transports.values()].map(({ transport: t, direction }) => ({
          direction, iceState: t.iceState, dtlsState: t.dtlsState, ...(t.iceSelectedTuple ? { protocol: t.iceSelectedTuple.protocol } : {}),
        })),
      })),
    };
  });

  /**
   * Denies the identity or token id until a time. Once the denial holds, the revocation list's
   * listeners (wired in app.ts) remove the matching participant, close its connections and /safety
   * sockets on this node; `kicked` counts the participants in the room that the kick removes.
   */
  app.post<{ Params: Static<typeof RoomParams>; Body: Static<typeof KickBody> }>(
    '/rooms/:room/kick',
    { schema: { params: RoomParams, body: KickBody } },
    async (req) => {
      const { identity, tokenId, durationSeconds = 3600, reason = 'kicked by an administrator' } = req.body;
      if (!identity && !tokenId) throw new SfuError('INVALID_REQUEST', 'identity or tokenId is required');
      const until = Date.now() + durationSeconds * 1000;
      const revocation = { room: req.params.room, identity, tokenId, until, reason };
      const kicked = revokedParticipants(rooms, revocation).length;
      await revocations.add(revocation, 'admin');
      opts.log.info({ kicked, durationSeconds }, 'admin kick/revocation');
      return { kicked, revokedUntil: new Date(until).toISOString() };
    },
  );

  app.get<{ Params: Static<typeof RoomParams> }>('/rooms/:room/revocations', { schema: { params: RoomParams } }, async (req) => ({
    revocations: revocations.list(req.params.room).map((r) => ({ ...r, until: new Date(r.until).toISOString() })),
  }));

  app.delete<{ Params: Static<typeof RoomParams> }>('/rooms/:room', { schema: { params: RoomParams } }, async (req) => {
    const room = rooms.get(req.params.room);
    if (!room) throw new SfuError('NOT_FOUND', 'no such room on this node');
    room.close('ADMIN_CLOSED');
    return { closed: true };
  });
}
