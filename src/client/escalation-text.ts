import { reachedAnyone, type TargetReach } from '../domain/escalation-reach.ts';
import { t, tDynamic } from './i18n/language.ts';

/**
 * The escalation state of an alarm in words (`panic:escalated`, docs/safety.md): never
 * "escalated" when the tier reached nobody. `targets` is what the server said became of each
 * target of the tier; absent (a replay after a restart or a takeover), only the tier is known, and
 * the line does not claim that anyone was reached.
 */
export function escalationText(tier: number, targets: readonly TargetReach[] | undefined): string {
  if (!targets) return t('escalation.unknown', { tier });
  if (targets.every((r) => r.status === 'not-configured')) return t('escalation.noTarget', { tier });
  const list = targets.map(targetText).join(', ');
  if (!reachedAnyone(targets)) return t('escalation.nobody', { tier, targets: list });
  return t('escalation.done', { tier, targets: list });
}

/** One target and what became of it (an unknown status reads as failed). */
function targetText(r: TargetReach): string {
  return tDynamic(`reach.${r.status}`, { target: r.target, n: r.connections ?? 1 }, t('reach.failed', { target: r.target }));
}
