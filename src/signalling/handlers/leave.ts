import { defineHandler } from '../handler.ts';
import { Empty } from '../schemas.ts';

/** leave: removes the participant at once (no grace period); the server then closes the socket. */
export const leave = defineHandler({
  method: 'leave',
  schema: Empty,
  async handle(ctx) {
    const { room, participant } = ctx.joined();
    ctx.unbind();
    room.remove(participant, 'LEFT');
    return {};
  },
});
