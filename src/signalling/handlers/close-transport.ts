import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';

/** closeTransport: closes a transport with its producers or consumers (e.g. a client rebuilding its state). */
export const closeTransport = defineHandler({
  method: 'closeTransport',
  schema: Type.Object({ transportId: MediaId }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    room.closeTransport(participant, data.transportId);
    return {};
  },
});
