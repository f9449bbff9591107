import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { Direction, RtpCapabilities } from '../schemas.ts';
import { checkRtpCapabilities } from '../../media/rtp-checks.ts';

/** createTransport: a WebRTC transport on the worker's WebRtcServer (UDP and TCP). */
export const createTransport = defineHandler({
  method: 'createTransport',
  schema: Type.Object({
    direction: Direction,
    rtpCapabilities: Type.Optional(RtpCapabilities),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const { direction, rtpCapabilities } = data;
    // A recv transport's capabilities must receive the room's codecs, or it would never get a consumer.
    // (Missing ones are the room's refusal, after its permission check; a send transport ignores them.)
    if (direction !== 'recv') return room.createTransport(participant, direction, undefined);
    if (rtpCapabilities !== undefined) checkRtpCapabilities(rtpCapabilities, room.rtpCapabilities);
    return room.createTransport(participant, direction, rtpCapabilities);
  },
});
