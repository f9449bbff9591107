import { Type } from '@sinclair/typebox';
import type { types } from 'mediasoup';
import { defineHandler } from '../handler.ts';
import { Direction, RtpCapabilities } from '../schemas.ts';

/** createTransport: a WebRTC transport on the worker's WebRtcServer (UDP and TCP). */
export const createTransport = defineHandler({
  method: 'createTransport',
  schema: Type.Object({
    direction: Direction,
    rtpCapabilities: Type.Optional(RtpCapabilities),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    return room.createTransport(participant, data.direction, data.rtpCapabilities as types.RtpCapabilities | undefined);
  },
});
