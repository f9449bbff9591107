import type { Role } from '../../auth/grant.ts';
import type { Location } from '../../store/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { SfuError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import type { PanicSpool } from './spool.ts';
import { deriveIncident, type Incident, type IncidentEvent, type IncidentStore, type Outcome } from './types.ts';
import { ReAlertCoalescer } from './re-alert.ts';
import { ReRaiseKeys, reRaisedEvent, reRaiseTarget, type RaiseInput } from './re-raise.ts';
import type { WebhookConfig, WebhookSender } from './webhooks.ts';

export interface Tier { readonly afterSeconds: number; readonly notify: readonly string[] }

/** Who raised or handles an alarm. */
export interface Actor { readonly identity: string; readonly role: Role | 'desk' }

/** The raising participant, as the room knows it. */
export interface Raiser extends Actor {
  readonly room: string;
  readonly participantId: string;
  readonly role: Role;
}

/** What responders receive: the incident, who raised it, where they are and whom to call. */
export interface Alert {
  readonly incident: Incident;
  readonly participant: { participantId: string; identity: string; role: Role };
  readonly location: Omit<Location, 'emergencyContact'> | null;
  readonly emergencyContact: { name: string; phone: string } | null;
  readonly tier: number;
  readonly replay?: boolean;
  /** Sent again because the raiser raised again (the incident carries `reRaises` and `lastReRaise`). */
  readonly reAlert?: boolean;
}

/** The reply to a raise: which incident it opened, or (`reRaised`) the open one it was recorded on. */
export interface RaiseResult {
  readonly incidentId: string;
  readonly receivedAt: string;
  readonly duplicate: boolean;
  readonly reRaised?: true;
}

/** Re-alerts of one incident are sent at most about once per this many milliseconds. */
const RE_ALERT_WINDOW_MS = 1000;

/** How alerts and updates reach people; the socket.io layer (and signalling) implement it. */
export interface PanicFanout {
  /** Clinical roles in the room; resolves with how many received it. */
  alertClinicians(room: string, alert: Alert): number;
  /** Desk clients whose scope covers the room; resolves with how many received it. */
  alertDesks(room: string, alert: Alert): number;
  /** Everyone in the room (non-silent alarms, when configured): no location, no contact. */
  announceToRoom(room: string, incident: Incident): void;
  /** Acknowledged / escalated / cancelled / resolved: to clinicians and desks in scope, and to the raiser. */
  update(room: string, event: string, payload: object, raiserIdentity: string): void;
}

export interface PanicServiceOptions {
  readonly store: IncidentStore;
  readonly spool: PanicSpool;
  readonly tiers: readonly Tier[];
  readonly webhooks: readonly WebhookConfig[];
  readonly sender: WebhookSender;
  readonly announceToRoom: boolean;
  /** Open incidents one participant (room and identity) may have; further raises are recorded on one of them. */
  readonly maxOpenPerParticipant: number;
  /** The latest location record of a participant (store first, memory as fallback). */
  readonly locate: (participantId: string) => Promise<Location | undefined>;
  readonly log: Logger;
  readonly metrics: Metrics;
}

interface Open { incident: Incident; timers: NodeJS.Timeout[]; raiser: Raiser }

/**
 * The panic channel: persist (or spool), fan out at once, escalate tier by tier until someone
 * acknowledges, and resume open incidents after a restart. Never drops an alarm: a store failure
 * falls back to the spool, a fan-out failure to the webhooks.
 */
export class PanicService {
  readonly #o: PanicServiceOptions;
  readonly #open = new Map<string, Open>();
  readonly #reRaiseKeys = new ReRaiseKeys();
  readonly #reAlerts = new ReAlertCoalescer(RE_ALERT_WINDOW_MS, (id) => void this.#reAlert(id));
  /** Raises of one participant run one at a time, so that the cap is checked against settled state. */
  readonly #raising = new Map<string, Promise<unknown>>();
  #fanout: PanicFanout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(opts: PanicServiceOptions) {
    this.#o = opts;
  }

  /** Connects the transports and resumes every open incident from the store (timers included). */
  async start(fanout: PanicFanout): Promise<void> {
    this.#fanout = fanout;
    await this.#flushSpool();
    for (const incident of await this.#o.store.open()) {
      const raiser: Raiser = { room: incident.room, participantId: incident.participantId, identity: incident.identity, role: incident.role };
      this.#open.set(incident.id, { incident, timers: [], raiser });
      this.#reRaiseKeys.load(incident, await this.#o.store.events(incident.id));
      this.#schedule(incident.id, false);
      await this.#redeliverWebhooks(incident);
    }
    this.#o.metrics.panicOpen(this.#open.size);
    if (this.#open.size > 0) this.#o.log.warn({ open: this.#open.size }, 'resumed open panic incidents');
  }

  /** Open incidents, optionally only those of some rooms (responders' replay). */
  openIncidents(filter: (room: string) => boolean = () => true): Incident[] {
    return [...this.#open.values()].map((o) => o.incident).filter((i) => filter(i.room));
  }

  async alertFor(incident: Incident, tier: number, replay = false): Promise<Alert> {
    const loc = await this.#o.locate(incident.participantId).catch(() => undefined);
    const { emergencyContact, ...location } = loc ?? ({} as Partial<Location>);
    return {
      incident, tier, ...(replay ? { replay } : {}),
      participant: { participantId: incident.participantId, identity: incident.identity, role: incident.role },
      location: loc ? (location as Omit<Location, 'emergencyContact'>) : null,
      emergencyContact: emergencyContact ?? null,
    };
  }

  /**
   * Records a raise: a new incident, or, when the participant already has `maxOpenPerParticipant`
   * open ones, a `re-raised` event on one of them (responders are alerted again). Never refused.
   * Idempotent on (room, identity, clientIncidentId) either way.
   */
  raise(raiser: Raiser, input: RaiseInput): Promise<RaiseResult> {
    const key = `${raiser.room}\u0000${raiser.identity}`;
    const run = (this.#raising.get(key) ?? Promise.resolve()).then(() => this.#raiseNow(raiser, input));
    const settled = run.then(() => undefined, () => undefined);
    this.#raising.set(key, settled);
    void settled.then(() => { if (this.#raising.get(key) === settled) this.#raising.delete(key); });
    return run;
  }

  async #raiseNow(raiser: Raiser, input: RaiseInput): Promise<RaiseResult> {
    const mine = [...this.#open.values()].filter((o) => o.incident.room === raiser.room && o.incident.identity === raiser.identity);
    const same = mine.find((o) => o.incident.clientIncidentId === input.clientIncidentId);
    if (same) return { incidentId: same.incident.id, receivedAt: same.incident.raisedAt, duplicate: true };
    const recorded = this.#reRaiseKeys.get(raiser.room, raiser.identity, input.clientIncidentId);
    if (recorded) return { incidentId: recorded.incidentId, receivedAt: recorded.at, duplicate: true, reRaised: true };
    if (mine.length >= this.#o.maxOpenPerParticipant) return this.#reRaise(raiser, input, mine.map((o) => o.incident));
    const raise = { id: newId(), room: raiser.room, participantId: raiser.participantId, identity: raiser.identity, role: raiser.role, ...input, raisedAt: new Date().toISOString() };
    let incident: Incident;
    let created = true;
    try {
      ({ incident, created } = await this.#o.store.raise(raise));
    } catch (err) {
      this.#o.log.error({ err, incidentId: raise.id }, 'store unavailable: panic incident spooled');
      this.#o.spool.append({ op: 'raise', raise });
      incident = deriveIncident(raise, []);
      this.#startFlushing();
    }
    if (!created) return { incidentId: incident.id, receivedAt: incident.raisedAt, duplicate: true };
    this.#open.set(incident.id, { incident, timers: [], raiser });
    this.#o.metrics.panicRaised(incident.kind);
    this.#o.metrics.panicOpen(this.#open.size);
    this.#o.log.warn({ incidentId: incident.id, kind: incident.kind, silent: incident.silent }, 'panic raised');
    if (!incident.silent && this.#o.announceToRoom) this.#fanout?.announceToRoom(incident.room, incident);
    this.#schedule(incident.id, true);
    return { incidentId: incident.id, receivedAt: incident.raisedAt, duplicate: false };
  }

  async #reRaise(raiser: Raiser, input: RaiseInput, mine: Incident[]): Promise<RaiseResult> {
    const open = this.#open.get(reRaiseTarget(mine).id)!;
    const incident = await this.#append(open, reRaisedEvent(raiser.identity, input));
    // Resolved while the event was written: the raise needs an incident that is still open.
    if (!this.#open.has(incident.id)) return this.#raiseNow(raiser, input);
    const at = incident.lastReRaise!.at;
    this.#reRaiseKeys.set(raiser.room, raiser.identity, input.clientIncidentId, incident.id, at);
    this.#o.log.warn({ incidentId: incident.id, kind: input.kind, reRaises: incident.reRaises }, 'panic raised again: recorded on an open incident');
    this.#reAlerts.request(incident.id);
    return { incidentId: incident.id, receivedAt: at, duplicate: false, reRaised: true };
  }

  /** Alerts the live targets of the tiers reached so far again (webhooks are not sent again). */
  async #reAlert(incidentId: string): Promise<void> {
    const open = this.#open.get(incidentId);
    if (!open) return;
    const alert: Alert = { ...(await this.alertFor(open.incident, open.incident.tier)), reAlert: true };
    const targets = new Set(this.#o.tiers.slice(0, open.incident.tier + 1).flatMap((t) => t.notify));
    if (targets.has('room-clinicians')) this.#fanout?.alertClinicians(open.incident.room, alert);
    if (targets.has('desk')) this.#fanout?.alertDesks(open.incident.room, alert);
  }

  async acknowledge(incidentId: string, by: Actor) {
    const open = this.#get(incidentId);
    if (open.incident.acknowledgedBy) return open.incident;
    const incident = await this.#append(open, { type: 'acknowledged', actor: by.identity, data: { role: by.role } });
    for (const t of open.timers) clearTimeout(t);
    open.timers = [];
    this.#o.metrics.panicAcknowledged((Date.parse(incident.acknowledgedAt!) - Date.parse(incident.raisedAt)) / 1000);
    this.#fanout?.update(incident.room, 'panic:acknowledged', { incidentId, by, at: incident.acknowledgedAt }, incident.identity);
    return incident;
  }

  /** Only by the raiser, from the room the alarm was raised in (the same identity elsewhere may not). */
  async cancel(incidentId: string, by: Actor & { readonly room: string }) {
    const open = this.#get(incidentId);
    if (open.raiser.identity !== by.identity || open.incident.room !== by.room) {
      throw new SfuError('PERMISSION_DENIED', 'only the person who raised an alarm can cancel it, from the room it was raised in');
    }
    const incident = await this.#append(open, { type: 'cancelled', actor: by.identity, data: {} });
    this.#fanout?.update(incident.room, 'panic:cancelled', { incidentId, by, at: incident.cancelledAt }, incident.identity);
    return incident;
  }

  async resolve(incidentId: string, by: Actor, outcome: Outcome, note?: string) {
    const open = this.#get(incidentId);
    const incident = await this.#append(open, { type: 'resolved', actor: by.identity, data: { role: by.role, outcome, ...(note ? { hasNote: true } : {}) } });
    for (const t of open.timers) clearTimeout(t);
    this.#open.delete(incidentId);
    this.#reRaiseKeys.drop(incidentId);
    this.#reAlerts.drop(incidentId);
    this.#o.metrics.panicOpen(this.#open.size);
    this.#fanout?.update(incident.room, 'panic:resolved', { incidentId, by, outcome, at: incident.resolvedAt }, incident.identity);
    return incident;
  }

  /** The incident's room, for permission checks by the transport. */
  roomOf(incidentId: string): string {
    return this.#get(incidentId).incident.room;
  }

  #get(incidentId: string): Open {
    const open = this.#open.get(incidentId);
    if (!open) throw new SfuError('INCIDENT_NOT_FOUND', 'no open incident with that id');
    return open;
  }

  async #append(open: Open, e: Omit<IncidentEvent, 'incidentId' | 'at'>): Promise<Incident> {
    const event: IncidentEvent = { ...e, incidentId: open.incident.id, at: new Date().toISOString() };
    try {
      open.incident = await this.#o.store.append(event);
    } catch (err) {
      this.#o.log.error({ err, incidentId: event.incidentId }, 'store unavailable: incident event spooled');
      this.#o.spool.append({ op: 'event', event });
      open.incident = deriveIncident(open.incident, [event]);
      this.#startFlushing();
    }
    return open.incident;
  }

  /**
   * Runs each tier not reached yet at raisedAt + afterSeconds (at once when that is past). Tier 0
   * (the first fan-out) runs only for a fresh raise: after a restart, responders get a replay
   * when they connect instead.
   */
  #schedule(incidentId: string, fresh: boolean): void {
    const open = this.#open.get(incidentId)!;
    if (open.incident.acknowledgedBy) return;
    const raisedAt = Date.parse(open.incident.raisedAt);
    this.#o.tiers.forEach((tier, index) => {
      if (index === 0 ? !fresh : open.incident.tier >= index) return;
      const delay = Math.max(0, raisedAt + tier.afterSeconds * 1000 - Date.now());
      const t = setTimeout(() => void this.#runTier(incidentId, index), delay);
      t.unref();
      open.timers.push(t);
    });
  }

  async #runTier(incidentId: string, index: number): Promise<void> {
    const open = this.#open.get(incidentId);
    if (!open || open.incident.acknowledgedBy) return;
    const tier = this.#o.tiers[index]!;
    if (index > 0) {
      await this.#append(open, { type: 'escalated', actor: 'system', data: { tier: index, notify: tier.notify } });
      this.#o.metrics.panicEscalated(index);
      this.#fanout?.update(open.incident.room, 'panic:escalated', { incidentId, tier: index, notified: tier.notify }, open.incident.identity);
    }
    const alert = await this.alertFor(open.incident, index);
    let reached = 0;
    for (const target of tier.notify) {
      if (target === 'room-clinicians') reached += this.#fanout?.alertClinicians(open.incident.room, alert) ?? 0;
      else if (target === 'desk') reached += this.#fanout?.alertDesks(open.incident.room, alert) ?? 0;
      else this.#webhook(target.slice('webhook:'.length), open.incident, alert, index);
    }
    if (index === 0 && reached > 0) this.#o.metrics.panicDelivered((Date.now() - Date.parse(open.incident.raisedAt)) / 1000);
  }

  /** After a restart: webhooks of tiers already reached that never got a 2xx are sent again. */
  async #redeliverWebhooks(incident: Incident): Promise<void> {
    const attempts = await this.#o.store.webhookAttempts(incident.id);
    const delivered = (name: string, tier: number) => attempts.some((a) => a.webhook === name && a.tier === tier && a.status !== null && a.status >= 200 && a.status < 300);
    for (let tier = 0; tier <= incident.tier && tier < this.#o.tiers.length; tier++) {
      for (const target of this.#o.tiers[tier]!.notify) {
        if (!target.startsWith('webhook:')) continue;
        const name = target.slice('webhook:'.length);
        if (delivered(name, tier)) continue;
        const tried = attempts.filter((a) => a.webhook === name && a.tier === tier).length;
        const hook = this.#o.webhooks.find((w) => w.name === name);
        if (!hook) continue;
        const payload = { event: 'panic.alert', room: incident.room, sentAt: new Date().toISOString(), ...(await this.alertFor(incident, tier)) };
        void this.#o.sender.deliver(hook, incident.id, tier, payload, tried + 1);
      }
    }
  }

  #webhook(name: string, incident: Incident, alert: Alert, tier: number): void {
    const hook = this.#o.webhooks.find((w) => w.name === name);
    if (!hook) {
      this.#o.log.warn({ webhook: name, tier }, 'escalation tier names a webhook that is not configured');
      return;
    }
    const payload = { event: 'panic.alert', room: incident.room, sentAt: new Date().toISOString(), ...alert };
    void this.#o.sender.deliver(hook, incident.id, tier, payload);
  }

  #startFlushing(): void {
    if (this.#flushTimer) return;
    this.#flushTimer = setInterval(() => void this.#flushSpool(), 1000);
    this.#flushTimer.unref();
  }

  async #flushSpool(): Promise<void> {
    try {
      const n = await this.#o.spool.flush(this.#o.store);
      if (n > 0) this.#o.log.warn({ entries: n }, 'panic spool written to the store');
      if (this.#flushTimer) clearInterval(this.#flushTimer);
      this.#flushTimer = undefined;
    } catch {
      // Still down: keep the spool and try again.
    }
  }

  stop(): void {
    for (const o of this.#open.values()) for (const t of o.timers) clearTimeout(t);
    this.#reAlerts.stop();
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    this.#o.sender.stop();
  }
}
