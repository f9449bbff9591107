import type { Incident, IncidentStore } from '../../domain/incident.ts';
import { attempt, within } from '../../shared/deadline.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Alert, Tier } from './alert.ts';
import type { WebhookConfig, WebhookSender } from './webhooks.ts';

export interface TierWebhooksOptions {
  readonly store: Pick<IncidentStore, 'webhookAttempts'>;
  readonly tiers: readonly Tier[];
  readonly webhooks: readonly WebhookConfig[];
  readonly sender: WebhookSender;
  /** Bound of the read of an incident's webhook attempts. */
  readonly readDeadlineMs: number;
  readonly log: Logger;
}

/** The webhooks escalation tiers name (`webhook:<name>`): sent when a tier runs, and sent again after a restart or a takeover. */
export class TierWebhooks {
  readonly #o: TierWebhooksOptions;

  constructor(o: TierWebhooksOptions) {
    this.#o = o;
  }

  /**
   * A tier naming webhook `name` ran: its alert goes out (retried until a 2xx by the sender):
   * `sending`; `not-configured` when no webhook has that name (nothing is sent).
   */
  send(name: string, incident: Incident, alert: Alert, tier: number): 'sending' | 'not-configured' {
    const hook = this.#o.webhooks.find((w) => w.name === name);
    if (!hook) {
      this.#o.log.warn({ webhook: name, tier, incidentId: incident.id }, 'escalation tier names a webhook that is not configured: it reached nobody');
      return 'not-configured';
    }
    const payload = { event: 'panic.alert', room: incident.room, sentAt: new Date().toISOString(), ...alert };
    void this.#o.sender.deliver(hook, incident.id, tier, payload);
    return 'sending';
  }

  /** After a restart or a takeover: webhooks of tiers already reached that never got a 2xx are sent again. */
  async redeliver(incident: Incident, alertFor: (incident: Incident, tier: number) => Promise<Alert>): Promise<void> {
    const read = await within(attempt(() => this.#o.store.webhookAttempts(incident.id)), this.#o.readDeadlineMs);
    if (!read.settled || !read.ok) {
      this.#o.log.warn({ incidentId: incident.id }, 'could not read webhook attempts: undelivered webhooks of this incident are not sent again');
      return;
    }
    const attempts = read.value;
    const delivered = (name: string, tier: number) => attempts.some((a) => a.webhook === name && a.tier === tier && a.status !== null && a.status >= 200 && a.status < 300);
    for (let tier = 0; tier <= incident.tier && tier < this.#o.tiers.length; tier++) {
      for (const target of this.#o.tiers[tier]!.notify) {
        if (!target.startsWith('webhook:')) continue;
        const name = target.slice('webhook:'.length);
        if (delivered(name, tier)) continue;
        const tried = attempts.filter((a) => a.webhook === name && a.tier === tier).length;
        const hook = this.#o.webhooks.find((w) => w.name === name);
        if (!hook) continue;
        const payload = { event: 'panic.alert', room: incident.room, sentAt: new Date().toISOString(), ...(await alertFor(incident, tier)) };
        void this.#o.sender.deliver(hook, incident.id, tier, payload, tried + 1);
      }
    }
  }
}
