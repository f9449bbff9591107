import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';

const ConsumerRef = Type.Object({ consumerId: MediaId }, { additionalProperties: false });

/** resumeConsumer: starts forwarding a consumer (consumers are created paused). */
export const resumeConsumer = defineHandler({
  method: 'resumeConsumer',
  schema: ConsumerRef,
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    await room.setConsumerPaused(participant, data.consumerId, false);
    return {};
  },
});

/** pauseConsumer: stops forwarding a consumer (e.g. its tile is hidden). */
export const pauseConsumer = defineHandler({
  method: 'pauseConsumer',
  schema: ConsumerRef,
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    await room.setConsumerPaused(participant, data.consumerId, true);
    return {};
  },
});
