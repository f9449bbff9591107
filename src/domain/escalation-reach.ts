/**
 * What became of each target of an escalation tier when the tier ran, as `panic:escalated` tells
 * responders and the raiser (docs/safety.md, "Tiers and escalation"): a page never says
 * "escalated" when the tier reached nobody.
 *
 * - `reached`: a live target (`room-clinicians`, `desk`) with at least one connection on this node
 *   that was sent the alert (`connections` says how many);
 * - `no-connection`: a live target with no connection on this node (with several nodes, responders
 *   connected to other nodes still get the alert through Redis, and are not counted here);
 * - `sending`: a configured webhook; the first attempt is under way, retried until a 2xx (every
 *   attempt is recorded with the incident);
 * - `not-configured`: `webhook:<name>` names no webhook in `safety.webhooks`: nothing was sent;
 * - `failed`: sending to the target threw (logged).
 */
export const TARGET_STATUSES = ['reached', 'no-connection', 'sending', 'not-configured', 'failed'] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

export interface TargetReach {
  /** The tier's target as configured: `room-clinicians`, `desk` or `webhook:<name>`. */
  readonly target: string;
  readonly status: TargetStatus;
  /** Live targets only: how many connections on this node were sent the alert. */
  readonly connections?: number;
}

/** Whether anything of a tier can reach a person: a live target reached, or a webhook being sent. */
export function reachedAnyone(targets: readonly TargetReach[]): boolean {
  return targets.some((t) => t.status === 'reached' || t.status === 'sending');
}
