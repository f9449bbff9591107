import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';

/** restartIce: new ICE credentials for a transport (after a network change or a resume). */
export const restartIce = defineHandler({
  method: 'restartIce',
  schema: Type.Object({ transportId: MediaId }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    return { iceParameters: await room.restartIce(participant, data.transportId) };
  },
});
