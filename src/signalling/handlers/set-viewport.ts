import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { MediaId } from '../schemas.ts';

/**
 * setViewport: how big a video tile is rendered and whether it is visible. A hidden tile is paused
 * on the server (no bytes); a small one gets the low simulcast layer, a large one the high layer.
 */
export const setViewport = defineHandler({
  method: 'setViewport',
  schema: Type.Object({
    consumerId: MediaId,
    width: Type.Integer({ minimum: 0, maximum: 8192 }),
    height: Type.Integer({ minimum: 0, maximum: 8192 }),
    visible: Type.Boolean(),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    return room.setViewport(participant, data.consumerId, { width: data.width, height: data.height, visible: data.visible });
  },
});
