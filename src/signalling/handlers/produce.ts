import { Type } from '@sinclair/typebox';
import type { types } from 'mediasoup';
import { defineHandler } from '../handler.ts';
import { Kind, MediaId, RtpParameters, SourceSchema } from '../schemas.ts';

/** produce: publishes one source (mic, camera or screen) on the send transport. */
export const produce = defineHandler({
  method: 'produce',
  schema: Type.Object({
    transportId: MediaId,
    kind: Kind,
    rtpParameters: RtpParameters,
    source: SourceSchema,
    paused: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const producerId = await room.produce(participant, {
      transportId: data.transportId,
      kind: data.kind,
      rtpParameters: data.rtpParameters as types.RtpParameters,
      source: data.source,
      paused: data.paused,
    });
    return { producerId };
  },
});
