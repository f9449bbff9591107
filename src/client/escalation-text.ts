import { reachedAnyone, type TargetReach } from '../domain/escalation-reach.ts';

/**
 * The escalation state of an alarm in words (`panic:escalated`, docs/safety.md): never
 * "escalated" when the tier reached nobody. `targets` is what the server said became of each
 * target of the tier; absent (a replay after a restart or a takeover), only the tier is known, and
 * the line does not claim that anyone was reached.
 */
export function escalationText(tier: number, targets: readonly TargetReach[] | undefined): string {
  if (!targets) return `escalation tier ${tier} (whom it reached is not known here)`;
  if (targets.every((t) => t.status === 'not-configured')) return `escalation tier ${tier}: no target configured`;
  if (!reachedAnyone(targets)) return `escalation tier ${tier}: reached nobody (${targets.map(targetText).join(', ')})`;
  return `escalated (tier ${tier}): ${targets.map(targetText).join(', ')}`;
}

function targetText(t: TargetReach): string {
  switch (t.status) {
    case 'reached': return `${t.target} reached (${t.connections ?? 1})`;
    case 'sending': return `${t.target} sending`;
    case 'no-connection': return `${t.target} not connected`;
    case 'not-configured': return `${t.target} not configured`;
    default: return `${t.target} failed`;
  }
}
