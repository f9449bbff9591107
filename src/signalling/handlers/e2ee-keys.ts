import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';
import { SfuError } from '../../shared/errors.ts';

/** A sender key encrypted to one recipient: opaque to the server, base64url, at most 512 characters. */
const Blob = Type.String({ minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' });

/**
 * e2eeKeys: the participant's current sender key, encrypted by its client to each recipient
 * (docs/protocol.md, "e2eeKeys"). Relayed as `e2eeKey` to each `to` that is in the room and may
 * receive the sender's media (consent, subscribe permission, forwarding policy); the others are
 * listed as refused. Only in an end-to-end encrypted room. The
 * server never reads, keeps or logs a blob. At most `rooms.maxParticipants` entries.
 */
export const e2eeKeys = defineHandler({
  method: 'e2eeKeys',
  schema: Type.Object({
    epoch: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
    keys: Type.Array(Type.Object({ to: MediaId, blob: Blob }, { additionalProperties: false }), { minItems: 1, maxItems: 1000 }),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const max = ctx.services.config.rooms.maxParticipants;
    if (data.keys.length > max) throw new SfuError('INVALID_REQUEST', `keys: at most ${max} entries (rooms.maxParticipants)`);
    return room.relayKeys(participant, data.epoch, data.keys);
  },
});
