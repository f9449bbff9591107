import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { durableWrite } from '../../safety/timed.ts';

/**
 * withdrawConsent: effective at once. Withdrawing `telehealth` closes the participant's media
 * before anything else (then the withdrawal is recorded); the room hears `consentWithdrawn`.
 * The participant stays connected: the panic channel remains open to it.
 */
export const withdrawConsent = defineHandler({
  method: 'withdrawConsent',
  schema: Type.Object({
    scopes: Type.Array(Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]), { minItems: 1, maxItems: 2, uniqueItems: true }),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const { store, metrics } = ctx.services;
    room.withdrawConsent(participant, data.scopes);
    for (const scope of data.scopes) metrics.consentWithdrawn(scope);
    await durableWrite(metrics, 'withdrawal', () => store.recordWithdrawal({
      sessionId: participant.id, room: room.id, identity: participant.identity, scopes: data.scopes, at: new Date(),
    }), 'consent was withdrawn and media stopped, but the withdrawal could not be recorded');
    return { consentScopes: [...participant.facts.consentScopes], mediaAllowed: participant.mediaAllowed };
  },
});
