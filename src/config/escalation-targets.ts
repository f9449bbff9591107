import type { Config } from './schema.ts';

/** A tier target that names no configured webhook: an escalation to it reaches nobody. */
export interface UnconfiguredTarget {
  /** The tier's index in `safety.tiers` (0 = the first fan-out). */
  readonly tier: number;
  /** `webhook:<name>` as configured. */
  readonly target: string;
}

/** The code of the start-up refusal when configured tiers name webhooks that do not exist. */
export const ESCALATION_TARGET_UNKNOWN = 'ESCALATION_TARGET_UNKNOWN';

/** Every `webhook:<name>` target of `safety.tiers` whose name is not in `safety.webhooks`, in tier order. */
export function unconfiguredTargets(safety: Pick<Config['safety'], 'tiers' | 'webhooks'>): UnconfiguredTarget[] {
  const names = new Set(safety.webhooks.map((w) => w.name));
  return safety.tiers.flatMap((t, tier) => t.notify
    .filter((target) => target.startsWith('webhook:') && !names.has(target.slice('webhook:'.length)))
    .map((target) => ({ tier, target })));
}

/** `tier 1: webhook:primary; tier 2: webhook:secondary` (targets of one tier joined with commas). */
export function describeTargets(targets: readonly UnconfiguredTarget[]): string {
  const byTier = new Map<number, string[]>();
  for (const t of targets) byTier.set(t.tier, [...(byTier.get(t.tier) ?? []), t.target]);
  return [...byTier].map(([tier, list]) => `tier ${tier}: ${list.join(', ')}`).join('; ');
}

/** The one warning line for the built-in default tiers naming webhooks nobody configured (start-up log and banner). */
export function unconfiguredWarning(targets: readonly UnconfiguredTarget[]): string {
  return `escalation tiers name targets that are not configured, so escalating to them reaches nobody (${describeTargets(targets)}): `
    + 'these are the built-in default tiers; configure safety.webhooks (SFU_PANIC_WEBHOOKS) or set safety.tiers (SFU_PANIC_TIERS) (docs/safety.md, "Tiers and escalation")';
}

/** The start-up refusal's problems when tiers set by the operator name webhooks that do not exist. */
export function unconfiguredProblems(targets: readonly UnconfiguredTarget[]): string[] {
  return targets.map((t) => `safety.tiers[${t.tier}] notifies ${t.target}, but safety.webhooks has no webhook named "${t.target.slice('webhook:'.length)}": `
    + 'add it to safety.webhooks (SFU_PANIC_WEBHOOKS) or remove it from the tier (SFU_PANIC_TIERS); an escalation to it would reach nobody');
}
