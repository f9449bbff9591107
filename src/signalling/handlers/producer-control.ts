import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';

const ProducerRef = Type.Object({ producerId: MediaId }, { additionalProperties: false });

/** closeProducer: stops publishing a source; subscribers get consumerClosed. */
export const closeProducer = defineHandler({
  method: 'closeProducer',
  schema: ProducerRef,
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    room.closeProducer(participant, data.producerId);
    return {};
  },
});

/** pauseProducer: mutes a source at the server; subscribers get consumerPaused. */
export const pauseProducer = defineHandler({
  method: 'pauseProducer',
  schema: ProducerRef,
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    await room.setProducerPaused(participant, data.producerId, true);
    return {};
  },
});

/** resumeProducer: unmutes a source. */
export const resumeProducer = defineHandler({
  method: 'resumeProducer',
  schema: ProducerRef,
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    await room.setProducerPaused(participant, data.producerId, false);
    return {};
  },
});
