import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../auth/grant.ts';
import type { Store } from '../store/types.ts';

const RoomParams = Type.Object({ room: Id });

/**
 * Safety records for the admin API (registered inside the admin plugin, behind its credential):
 * a room's participants with their consent and location records, its audit trail, the
 * verification of the whole hash chain against its signed head checkpoint, and that checkpoint.
 */
export async function adminRecordRoutes(app: FastifyInstance, opts: { store: Store }): Promise<void> {
  const { store } = opts;
  app.get<{ Params: Static<typeof RoomParams> }>('/rooms/:room/records', { schema: { params: RoomParams } }, async (req) => ({
    room: req.params.room,
    participants: await store.participants(req.params.room),
  }));

  app.get<{ Params: Static<typeof RoomParams> }>('/rooms/:room/audit', { schema: { params: RoomParams } }, async (req) => ({
    room: req.params.room,
    entries: await store.auditTrail(req.params.room),
  }));

  app.get('/audit/verify', async () => store.verifyAudit());

  // The signed head checkpoint (position, hash, signing time, key id, HMAC) and whether the trail's
  // newest entry is the one it names: copy it elsewhere; `npm run audit:verify -- --head seq:hash`
  // later shows whether the trail still holds it (docs/records.md).
  app.get('/audit/head', async () => store.auditHead());
}
