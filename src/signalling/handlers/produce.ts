import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { Kind, MediaId, RtpParameters, SourceSchema } from '../schemas.ts';
import { PUBLISHING_POLICY, checkRtpParameters } from '../../media/rtp-checks.ts';

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
    const { rtpParameters } = data;
    // Parameters mediasoup would refuse (or accept and never forward) are refused here, naming the field.
    checkRtpParameters(data.kind, data.source, rtpParameters, room.rtpCapabilities, PUBLISHING_POLICY);
    const producerId = await room.produce(participant, {
      transportId: data.transportId,
      kind: data.kind,
      rtpParameters,
      source: data.source,
      paused: data.paused,
    });
    return { producerId };
  },
});
