import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { durableWrite } from '../../safety/timed.ts';
import { validateConsent } from '../../safety/validate.ts';
import { SfuError } from '../../shared/errors.ts';

/**
 * grantConsent: consent given again within the session after a `telehealth` withdrawal. The
 * consent object is the join's, checked by the same rules (policy version, guardian for the roles
 * that need one, a verbal consent attested by a clinician in the room now) and recorded the same
 * way (a consent grant and `consent.granted`), durably, before it takes effect; then the client may
 * create transports and publish again. Refused with CONSENT_IN_FORCE while telehealth is held.
 */
export const grantConsent = defineHandler({
  method: 'grantConsent',
  schema: Type.Object({ consent: Type.Unknown() }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const { store, metrics, safetyRules } = ctx.services;
    try {
      const clinicians = new Set(room.participants.filter((p) => p.clinical).map((p) => p.identity));
      const consent = validateConsent(data.consent, participant.role, room.id, safetyRules, { identity: participant.identity, clinicians });
      await room.grantConsent(participant, consent.scopes, () => durableWrite(metrics, 'consent', () => store.recordConsent({
        sessionId: participant.id, room: room.id, identity: participant.identity, role: participant.role, consent, at: new Date(),
      })));
      metrics.consentGranted('granted');
      return { consentScopes: [...participant.facts.consentScopes], mediaAllowed: participant.mediaAllowed };
    } catch (err) {
      metrics.consentGranted(err instanceof SfuError ? err.code : 'INTERNAL_ERROR');
      throw err;
    }
  },
});
