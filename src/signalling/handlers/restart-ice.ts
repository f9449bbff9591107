import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';
import { iceServersFor } from '../../media/turn-credentials.ts';

/**
 * restartIce: new ICE credentials for a transport (after a network change or a resume), and the
 * iceServers again with a freshly minted TURN credential: a restart makes new TURN allocations,
 * which coturn refuses once the join's credential has expired.
 */
export const restartIce = defineHandler({
  method: 'restartIce',
  schema: Type.Object({ transportId: MediaId }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const iceParameters = await room.restartIce(participant, data.transportId);
    const { iceServers, turn } = ctx.services.config.media;
    return { iceParameters, iceServers: iceServersFor(iceServers, turn, participant.id) };
  },
});
