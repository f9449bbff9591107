import { Type } from '@sinclair/typebox';
import type { Participant } from '../../room/participant.ts';
import { defineHandler } from '../handler.ts';

/** The browser client's media problem codes (src/client/media-health.ts; docs/errors.md, "Client-side codes"). */
const ProblemCode = Type.Union([Type.Literal('MEDIA_ICE_FAILED'), Type.Literal('MEDIA_DTLS_FAILED'), Type.Literal('MEDIA_NO_INBOUND')]);

/**
 * reportMediaProblem: a client says its media cannot connect (or that a problem it reported has
 * cleared), so the operator sees it in the log and in `sfu_client_media_problems_total` without
 * asking the family for a screenshot. Logged with the participant and room ids and the code only.
 * Only changes count: a problem this participant already reported (and has not cleared), or the
 * clearing of one it did not report, is answered and neither logged nor counted, so a client cannot
 * write the log faster than its media state changes.
 */
/** Per participant (across its resumes): the `code/direction` problems reported and not cleared. */
const reported = new WeakMap<Participant, Set<string>>();

export const reportMediaProblem = defineHandler({
  method: 'reportMediaProblem',
  schema: Type.Object({
    code: ProblemCode,
    direction: Type.Union([Type.Literal('send'), Type.Literal('recv')]),
    cleared: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }),
  async handle(ctx, data) {
    const { room, participant } = ctx.joined();
    const cleared = data.cleared === true;
    let open = reported.get(participant);
    if (!open) reported.set(participant, open = new Set());
    const key = `${data.code}/${data.direction}`;
    if (open.has(key) !== cleared) return {};
    if (cleared) open.delete(key);
    else open.add(key);
    ctx.services.metrics.clientMediaProblem(data.code, cleared);
    ctx.services.log[cleared ? 'info' : 'warn']({ room: room.id, participant: participant.id, role: participant.role, code: data.code, direction: data.direction, cleared },
      cleared ? 'client media problem cleared' : 'client media problem');
    return {};
  },
});
