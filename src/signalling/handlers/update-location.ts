import { Type } from '@sinclair/typebox';
import { defineHandler } from '../handler.ts';
import { durableWrite } from '../../safety/timed.ts';
import { validateLocation } from '../../safety/validate.ts';

/** updateLocation: appends a new location record (the latest is what safety features use); clinicians are told. */
export const updateLocation = defineHandler({
  method: 'updateLocation',
  schema: Type.Object({ location: Type.Unknown() }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const { store, metrics, safetyRules } = ctx.services;
    const location = validateLocation(data.location, participant.role, safetyRules);
    await durableWrite(metrics, 'location', () => store.recordLocation({
      sessionId: participant.id, room: room.id, identity: participant.identity, location, at: new Date(),
    }));
    room.updateLocation(participant, { region: location.region, description: location.description }, location.emergencyContact);
    return {};
  },
});
