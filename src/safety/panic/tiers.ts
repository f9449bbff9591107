import type { Incident, IncidentEvent } from '../../domain/incident.ts';
import { reachedAnyone, type TargetReach } from '../../domain/escalation-reach.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { Alert, PanicFanout, Raiser, Tier } from './alert.ts';
import type { TierWebhooks } from './tier-webhooks.ts';
import type { WebhookConfig } from './webhooks.ts';

/** An incident this node holds open (and so escalates). */
export interface OpenIncident {
  incident: Incident;
  timers: NodeJS.Timeout[];
  raiser: Raiser;
  /** The latest tier after tier 0 run here, and what became of its targets (for replays). */
  reach?: { tier: number; targets: TargetReach[] };
}

/** What running tiers needs of the panic service. */
export interface TierHost {
  /** The incident, while this node holds it open. */
  open(incidentId: string): OpenIncident | undefined;
  /** Records an event on an open incident (bounded) and returns the incident with it. */
  append(open: OpenIncident, e: Omit<IncidentEvent, 'incidentId' | 'at'>): Promise<Incident>;
  /** The alert for an incident at a tier. */
  alertFor(incident: Incident, tier: number): Promise<Alert>;
  /** How alerts and updates reach people (undefined before start). */
  fanout(): PanicFanout | undefined;
}

export interface TierEscalationOptions {
  readonly tiers: readonly Tier[];
  readonly webhooks: TierWebhooks;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly host: TierHost;
}

/** A fan-out that throws must not stop the others, the escalation or the reply. */
export function guardFanout(log: Logger, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    log.error({ err }, 'panic fan-out failed');
  }
}

/**
 * The escalation tiers (config `safety.tiers`) as responders' pages get them on connect
 * (`panic:escalation-plan`): numbered, with the targets that name no configured webhook (an
 * escalation to them reaches nobody, so a page must not promise them).
 */
export function escalationPlan(tiers: readonly Tier[], webhooks: readonly WebhookConfig[]): { tier: number; afterSeconds: number; notify: string[]; unconfigured: string[] }[] {
  const names = new Set(webhooks.map((w) => w.name));
  return tiers.map((t, tier) => ({
    tier, afterSeconds: t.afterSeconds, notify: [...t.notify],
    unconfigured: t.notify.filter((target) => target.startsWith('webhook:') && !names.has(target.slice('webhook:'.length))),
  }));
}

/**
 * An open incident's escalation on this node: each tier at raisedAt + afterSeconds until someone
 * acknowledges, every target of a tier sent the alert, and what became of each target told.
 */
export class TierEscalation {
  readonly #o: TierEscalationOptions;

  constructor(o: TierEscalationOptions) {
    this.#o = o;
  }

  /**
   * Schedules each tier not reached yet at raisedAt + afterSeconds (at once when that is past).
   * Tier 0 (the first fan-out) is run by the raise itself (`fresh`), or scheduled here when it has
   * a delay; after a restart it never runs again: responders get a replay when they connect.
   */
  schedule(incidentId: string, fresh = false): void {
    const open = this.#o.host.open(incidentId)!;
    if (open.incident.acknowledgedBy) return;
    const raisedAt = Date.parse(open.incident.raisedAt);
    this.#o.tiers.forEach((tier, index) => {
      if (index === 0 ? !fresh || tier.afterSeconds === 0 : open.incident.tier >= index) return;
      const delay = Math.max(0, raisedAt + tier.afterSeconds * 1000 - Date.now());
      const t = setTimeout(() => void this.run(incidentId, index), delay);
      t.unref();
      open.timers.push(t);
    });
  }

  /**
   * Runs one tier: a later tier's `escalated` event is recorded first; then every target is sent
   * the alert; then `panic:escalated` tells responders and the raiser what became of each target
   * (`targets`), so that no page claims an escalation that reached nobody.
   */
  async run(incidentId: string, index: number): Promise<void> {
    const { host, metrics, log } = this.#o;
    const open = host.open(incidentId);
    if (!open || open.incident.acknowledgedBy) return;
    const tier = this.#o.tiers[index]!;
    if (index > 0) {
      await host.append(open, { type: 'escalated', actor: 'system', data: { tier: index, notify: tier.notify } });
      metrics.panicEscalated(index);
    }
    const alert = await host.alertFor(open.incident, index);
    const targets = tier.notify.map((target) => this.#sendTo(target, open.incident, alert, index));
    const reached = targets.reduce((n, t) => n + (t.connections ?? 0), 0);
    if (index === 0 && reached > 0) metrics.panicDelivered((Date.now() - Date.parse(open.incident.raisedAt)) / 1000);
    if (index === 0) return;
    open.reach = { tier: index, targets };
    for (const t of targets) metrics.escalationTarget(t.status);
    if (!reachedAnyone(targets)) {
      log.error({ incidentId, tier: index, targets }, 'escalation tier reached nobody (no target configured or connected)');
    }
    guardFanout(log, () => host.fanout()?.update(open.incident.room, 'panic:escalated', { incidentId, tier: index, notified: tier.notify, targets }, open.incident.identity));
  }

  /** Sends a tier's alert to one target; what became of it (domain/escalation-reach.ts). */
  #sendTo(target: string, incident: Incident, alert: Alert, tier: number): TargetReach {
    try {
      if (target === 'room-clinicians' || target === 'desk') {
        const fanout = this.#o.host.fanout();
        const connections = (target === 'desk' ? fanout?.alertDesks(incident.room, alert) : fanout?.alertClinicians(incident.room, alert)) ?? 0;
        return { target, status: connections > 0 ? 'reached' : 'no-connection', connections };
      }
      return { target, status: this.#o.webhooks.send(target.slice('webhook:'.length), incident, alert, tier) };
    } catch (err) {
      this.#o.log.error({ err, target }, 'panic fan-out failed');
      return { target, status: 'failed' };
    }
  }
}
