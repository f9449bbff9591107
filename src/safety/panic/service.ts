import type { Actor, Alert, KnownLocation, PanicFanout, RaiseResult, Raiser, Tier } from './alert.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { SfuError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import type { PanicSpool } from './spool.ts';
import { deriveIncident, type Incident, type IncidentEvent, type IncidentStore, type Outcome } from '../../domain/incident.ts';
import type { EscalationOwnership } from '../../domain/escalation-ownership.ts';
import { EscalationRounds } from './escalation-rounds.ts';
import { foldEvent } from './fold.ts';
import { attempt, within } from '../../shared/deadline.ts';
import { journalReadiness, PanicJournal, type Durability, type JournalStatus } from './journal.ts';
import { ReAlertCoalescer } from './re-alert.ts';
import { ReRaiseKeys, reRaisedEvent, reRaiseTarget, type RaiseInput } from './re-raise.ts';
import { ReRaiseBatches, writeBatch, type ReRaiseBatch } from './re-raise-batch.ts';
import { TierWebhooks } from './tier-webhooks.ts';
import { TierEscalation, escalationPlan, guardFanout, type OpenIncident } from './tiers.ts';
import { readOpenIncidents } from './open-incidents.ts';
import type { WebhookConfig, WebhookSender } from './webhooks.ts';

export type { Actor, Alert, KnownLocation, PanicFanout, RaiseResult, Raiser, Tier } from './alert.ts';

/** Re-alerts of one incident are sent at most about once per this many milliseconds. */
const RE_ALERT_WINDOW_MS = 1000;
/** Re-raises of one incident after the first are written at most about once per this many milliseconds (counted in between). */
export const RE_RAISE_WRITE_WINDOW_MS = 1000;

export interface PanicServiceOptions {
  readonly store: IncidentStore;
  readonly spool: PanicSpool;
  readonly tiers: readonly Tier[];
  readonly webhooks: readonly WebhookConfig[];
  readonly sender: WebhookSender;
  readonly announceToRoom: boolean;
  /** Open incidents one participant (room and identity) may have; further raises are recorded on one of them. */
  readonly maxOpenPerParticipant: number;
  /**
   * The latest location of a participant: from memory while it is in a room on this node, else a
   * bounded store read. Waited for at most `storeDeadlineMs` either way (then the alert goes
   * without a location rather than late).
   */
  readonly locate: (participantId: string, room: string) => Promise<KnownLocation | undefined>;
  /** How long a raise or event waits for the store before it is spooled and delivery goes on (default 250). */
  readonly storeDeadlineMs?: number | undefined;
  /** How often the spool and memory backlog are retried (default 1000). */
  readonly retryMs?: number | undefined;
  /** How long start() waits for the store (spool replay, open incidents) before going on without it (default 5000). */
  readonly startDeadlineMs?: number | undefined;
  /** How long a raise's reply waits for its alert to leave for responders between two long-polls (default 500). */
  readonly deliveryWaitMs?: number | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
}

type Open = OpenIncident;

/**
 * The panic channel: deliver first, store bounded. A raise waits for the store at most
 * `storeDeadlineMs` (then it is spooled, or held in memory when the spool cannot be written),
 * reaches the tier-0 responders, and only then is answered; later tiers run until someone
 * acknowledges; open incidents resume after a restart. Every raise and event reaches the store
 * eventually, in order and once (PanicJournal).
 */
export class PanicService {
  readonly #o: PanicServiceOptions;
  readonly #deadlineMs: number;
  readonly #startDeadlineMs: number;
  readonly #journal: PanicJournal;
  readonly #webhooks: TierWebhooks;
  readonly #tiers: TierEscalation;
  readonly #open = new Map<string, Open>();
  readonly #reRaiseKeys = new ReRaiseKeys();
  /** The re-alert being sent now per incident: a re-raise is answered after its re-alert went out. */
  readonly #reAlerting = new Map<string, Promise<void>>();
  readonly #reAlerts = new ReAlertCoalescer(RE_ALERT_WINDOW_MS, (id) => this.#startReAlert(id));
  /** Re-raises counted and written as one event per window (a flood writes a bounded number of events and audit entries). */
  readonly #reRaiseBatches = new ReRaiseBatches(RE_RAISE_WRITE_WINDOW_MS, (id, batch) => this.#writeBatch(this.#open.get(id), batch));
  /** Raises of one participant run one at a time, so that the cap is checked against settled state. */
  readonly #raising = new Map<string, Promise<unknown>>();
  #fanout: PanicFanout | undefined;
  /** Set while the store's open incidents could not be read yet (start with the store down). */
  #reloadTimer: NodeJS.Timeout | undefined;
  #loading = false;
  /** Incidents resolved here while the store's open incidents are still to be read (not to be resumed by that read). */
  readonly #resolvedBeforeLoad = new Set<string>();
  /** The latest incidents resolved here (bounded): a replay prepared before a resolve must not send one after its `panic:resolved`. */
  readonly #resolvedHere = new Set<string>();
  #stopped = false;
  /** With Redis: the rounds that keep each open incident's escalation owned once (docs/scaling.md, "Escalation owned once"). */
  #rounds: EscalationRounds | undefined;

  constructor(opts: PanicServiceOptions) {
    this.#o = opts;
    this.#deadlineMs = opts.storeDeadlineMs ?? 250;
    this.#startDeadlineMs = opts.startDeadlineMs ?? 5000;
    this.#webhooks = new TierWebhooks({
      store: opts.store, tiers: opts.tiers, webhooks: opts.webhooks, sender: opts.sender, readDeadlineMs: this.#startDeadlineMs, log: opts.log,
    });
    this.#journal = new PanicJournal({
      store: opts.store, spool: opts.spool, deadlineMs: this.#deadlineMs, retryMs: opts.retryMs ?? 1000, log: opts.log, metrics: opts.metrics,
    });
    this.#tiers = new TierEscalation({
      tiers: opts.tiers, webhooks: this.#webhooks, log: opts.log, metrics: opts.metrics,
      host: {
        open: (id) => this.#open.get(id),
        append: (open, e) => this.#append(open, e),
        alertFor: (incident, tier) => this.alertFor(incident, tier),
        fanout: () => this.#fanout,
      },
    });
  }

  /**
   * Several nodes (Redis): each open incident's escalation is owned by the node holding its lease.
   * This node takes the lease of what it raises, renews what it holds, drops what another node
   * holds, and takes over incidents nobody owns (their owner died): EscalationRounds. At start,
   * incidents in the store are resumed only through that takeover. Call before start().
   */
  useOwnership(ownership: EscalationOwnership): void {
    this.#rounds = new EscalationRounds({
      ownership, store: this.#o.store, storeDeadlineMs: this.#deadlineMs, log: this.#o.log, metrics: this.#o.metrics,
      host: {
        held: () => [...this.#open.values()].map((o) => o.incident),
        holds: (id) => this.#open.has(id),
        drop: (id) => this.#drop(id),
        pendingEvents: (id) => this.#journal.pendingEntries().flatMap((e) => (e.op === 'event' && e.event.incidentId === id ? [e.event] : [])),
        adopt: (incident, events) => this.#adopt(incident, events),
      },
    });
  }

  /**
   * Connects the transports, replays what the spool holds into the store, and resumes every open
   * incident (from the store, and from the spool for what the store does not have yet).
   */
  async start(fanout: PanicFanout): Promise<void> {
    this.#fanout = fanout;
    await this.#journal.start(this.#startDeadlineMs);
    if (!(await this.#load())) {
      this.#reloadTimer = setInterval(() => void this.#load().then((ok) => { if (ok) this.#stopReload(); }), this.#o.retryMs ?? 1000);
      this.#reloadTimer.unref();
    }
    this.#o.metrics.panicOpen(this.#open.size);
    if (this.#open.size > 0) this.#o.log.warn({ open: this.#open.size }, 'resumed open panic incidents');
    if (!this.#stopped) this.#rounds?.start();
  }

  /**
   * Open incidents held here that nobody has acknowledged, and those of them older than the last
   * tier's `afterSeconds` (every tier has run and still nobody has it): for the metrics, no I/O.
   */
  unacknowledged(now = Date.now()): { open: number; pastLastTier: number } {
    const lastTierMs = Math.max(0, ...this.#o.tiers.map((t) => t.afterSeconds)) * 1000;
    let open = 0;
    let pastLastTier = 0;
    for (const { incident } of this.#open.values()) {
      if (incident.state !== 'open' || incident.acknowledgedAt) continue;
      open++;
      if (now - Date.parse(incident.raisedAt) > lastTierMs) pastLastTier++;
    }
    return { open, pastLastTier };
  }

  /** Where unstored entries are: spool writable, how many spooled, how many held in memory only. */
  persistence(): JournalStatus {
    return this.#journal.status();
  }

  /** For /readyz: not ready while the spool cannot be written or entries are held in memory only. */
  readiness(): { ok: boolean; reason?: string } {
    return journalReadiness(this.#journal.status());
  }

  #stopReload(): void {
    if (this.#reloadTimer) clearInterval(this.#reloadTimer);
    this.#reloadTimer = undefined;
    this.#resolvedBeforeLoad.clear();
  }

  /**
   * Open incidents from the store (bounded) and from the backlog not in the store yet, merged;
   * those not in memory yet are resumed. Resolves false when the store could not be read.
   */
  async #load(): Promise<boolean> {
    if (this.#loading) return false;
    this.#loading = true;
    try {
      return await this.#loadNow();
    } finally {
      this.#loading = false;
    }
  }

  async #loadNow(): Promise<boolean> {
    const { ok, found } = await readOpenIncidents(this.#o.store, this.#journal.pendingEntries(), this.#startDeadlineMs, this.#o.log);
    const resumed: Incident[] = [];
    for (const { incident, events, stored } of found) {
      if (incident.state === 'resolved' || this.#open.has(incident.id) || this.#resolvedBeforeLoad.has(incident.id) || this.#stopped) continue;
      // With ownership, incidents other nodes can see (in the store) are resumed only once this
      // node wins their lease (the takeover); those only in this node's spool are its own.
      if (stored && this.#rounds) continue;
      const raiser: Raiser = { room: incident.room, participantId: incident.participantId, identity: incident.identity, role: incident.role };
      this.#open.set(incident.id, { incident, timers: [], raiser });
      this.#reRaiseKeys.load(incident, events);
      this.#tiers.schedule(incident.id);
      if (stored) void this.#webhooks.redeliver(incident, (i, tier) => this.alertFor(i, tier));
      resumed.push(incident);
    }
    this.#o.metrics.panicOpen(this.#open.size);
    // Responders connected before this read (a late one: the store did not answer in time at
    // start) have not had these in their replay: they get them now, once per connection.
    if (resumed.length > 0) this.#guard(() => this.#fanout?.resumed?.(resumed));
    return ok;
  }

  /** Open incidents, optionally only those of some rooms (responders' replay). */
  openIncidents(filter: (room: string) => boolean = () => true): Incident[] {
    return [...this.#open.values()].map((o) => o.incident).filter((i) => filter(i.room));
  }

  /**
   * The escalation tiers (config `safety.tiers`) as responders' pages get them on connect
   * (`panic:escalation-plan`): numbered, with the targets that name no configured webhook (an
   * escalation to them reaches nobody, so a page must not promise them).
   */
  escalationPlan(): { tier: number; afterSeconds: number; notify: string[]; unconfigured: string[] }[] {
    return escalationPlan(this.#o.tiers, this.#o.webhooks);
  }

  /** Whether this node holds the incident open (and so owns its escalation). */
  has(incidentId: string): boolean {
    return this.#open.has(incidentId);
  }

  /** The incident as this node holds it now (undefined when not held here). */
  held(incidentId: string): Incident | undefined {
    return this.#open.get(incidentId)?.incident;
  }

  /** Whether this node resolved the incident lately (the last 1000 it resolved). */
  resolvedHere(incidentId: string): boolean {
    return this.#resolvedHere.has(incidentId);
  }

  /**
   * Open incidents in the store, of the rooms `filter` accepts, whoever holds them (this node or
   * others sharing the store); a read bounded by `storeDeadlineMs`. Undefined when the store did
   * not answer in time.
   */
  async openInStore(filter: (room: string) => boolean): Promise<Incident[] | undefined> {
    const read = await within(attempt(() => this.#o.store.open()), this.#deadlineMs);
    if (!read.settled || !read.ok) return undefined;
    return read.value.filter((i) => i.state !== 'resolved' && filter(i.room));
  }

  /** The alert for an incident; its location from memory (or a store read bounded by the store deadline). */
  async alertFor(incident: Incident, tier: number, replay = false): Promise<Alert> {
    const found = await within(attempt(() => this.#o.locate(incident.participantId, incident.room)), this.#deadlineMs);
    const loc = found.settled && found.ok ? found.value : undefined;
    const { emergencyContact, ...location } = loc ?? ({} as Partial<KnownLocation>);
    const reach = replay ? this.#open.get(incident.id)?.reach : undefined;
    return {
      incident, tier, ...(replay ? { replay } : {}), ...(reach && reach.tier === tier ? { escalation: reach.targets } : {}),
      participant: { participantId: incident.participantId, identity: incident.identity, role: incident.role },
      location: loc ? (location as Omit<KnownLocation, 'emergencyContact'>) : null,
      emergencyContact: emergencyContact ?? null,
    };
  }

  /**
   * Records a raise: a new incident, or, when the participant already has `maxOpenPerParticipant`
   * open ones, a `re-raised` event on one of them (responders are alerted again). Never refused.
   * Idempotent on (room, identity, clientIncidentId) either way. Resolves after the tier-0
   * responders were alerted (or re-alerted).
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
    // At most storeDeadlineMs: then the raise is in the spool (or memory) and delivery goes on.
    const written = await this.#journal.raise(raise);
    if (written.stored && !written.stored.created) {
      const existing = written.stored.incident;
      return { incidentId: existing.id, receivedAt: existing.raisedAt, duplicate: true };
    }
    const incident = written.stored?.incident ?? deriveIncident(raise, []);
    this.#open.set(incident.id, { incident, timers: [], raiser });
    this.#o.metrics.panicRaised(incident.kind);
    this.#o.metrics.panicOpen(this.#open.size);
    this.#o.log.warn({ incidentId: incident.id, kind: incident.kind, silent: incident.silent, durability: written.durability }, 'panic raised');
    if (!incident.silent && this.#o.announceToRoom) this.#guard(() => this.#fanout?.announceToRoom(incident.room, incident));
    // The first fan-out happens before the raiser is answered: an acknowledged alarm has reached
    // every connected tier-0 responder.
    if ((this.#o.tiers[0]?.afterSeconds ?? 0) === 0) {
      await this.#tiers.run(incident.id, 0);
      await this.#delivered(incident.id);
    }
    this.#tiers.schedule(incident.id, true);
    // The lease is taken after the raise was delivered, in the background: Redis is never in an
    // alarm's path (down: this node escalates it anyway, and the next renewal takes the lease).
    this.#rounds?.claim(incident);
    return { incidentId: incident.id, receivedAt: incident.raisedAt, duplicate: false };
  }

  /** Over the cap: the first is written (a write window opens); those within it are counted, written together later (ReRaiseBatches). */
  async #reRaise(raiser: Raiser, input: RaiseInput, mine: Incident[]): Promise<RaiseResult> {
    const open = this.#open.get(reRaiseTarget(mine).id)!;
    const id = open.incident.id;
    let incident: Incident;
    if (this.#reRaiseBatches.coalescing(id)) {
      const event: IncidentEvent = { ...reRaisedEvent(raiser.identity, input), incidentId: id, at: new Date().toISOString() };
      this.#reRaiseBatches.add(id, input, event.at);
      incident = open.incident = foldEvent(open.incident, event);
    } else {
      incident = await this.#append(open, reRaisedEvent(raiser.identity, input));
      // Resolved while the event was written: the raise needs an incident that is still open.
      if (this.#open.get(id) !== open) return this.#raiseNow(raiser, input);
      this.#reRaiseBatches.opened(id);
      this.#o.log.warn({ incidentId: id, kind: input.kind, reRaises: incident.reRaises }, 'panic raised again: recorded on an open incident (more within the next second are counted and written as one event)');
    }
    const at = incident.lastReRaise!.at;
    this.#reRaiseKeys.set(raiser.room, raiser.identity, input.clientIncidentId, incident.id, at);
    this.#reAlerts.request(incident.id);
    await this.#reAlerting.get(incident.id);
    await this.#delivered(incident.id);
    return { incidentId: incident.id, receivedAt: at, duplicate: false, reRaised: true };
  }

  /** Waits (bounded) until the alerts just sent have left for every responder connection. */
  async #delivered(incidentId: string): Promise<void> {
    const all = await this.#fanout?.delivered?.(this.#o.deliveryWaitMs ?? 500).catch(() => false);
    if (all === false) this.#o.log.warn({ incidentId, waitedMs: this.#o.deliveryWaitMs ?? 500 }, 'panic alert still queued for a responder connection (long-polling client not polling): answering the raiser anyway');
  }

  #startReAlert(incidentId: string): void {
    const sending: Promise<void> = this.#reAlert(incidentId)
      .catch((err: unknown) => this.#o.log.error({ err, incidentId }, 'panic re-alert failed'))
      .finally(() => { if (this.#reAlerting.get(incidentId) === sending) this.#reAlerting.delete(incidentId); });
    this.#reAlerting.set(incidentId, sending);
  }

  /** Alerts the live targets of the tiers reached so far again (webhooks are not sent again). */
  async #reAlert(incidentId: string): Promise<void> {
    const open = this.#open.get(incidentId);
    if (!open) return;
    const alert: Alert = { ...(await this.alertFor(open.incident, open.incident.tier)), reAlert: true };
    const targets = new Set(this.#o.tiers.slice(0, open.incident.tier + 1).flatMap((t) => t.notify));
    if (targets.has('room-clinicians')) this.#guard(() => this.#fanout?.alertClinicians(open.incident.room, alert));
    if (targets.has('desk')) this.#guard(() => this.#fanout?.alertDesks(open.incident.room, alert));
  }

  async acknowledge(incidentId: string, by: Actor) {
    const open = this.#get(incidentId);
    if (open.incident.acknowledgedBy) return open.incident;
    const incident = await this.#append(open, { type: 'acknowledged', actor: by.identity, data: { role: by.role } });
    for (const t of open.timers) clearTimeout(t);
    open.timers = [];
    this.#o.metrics.panicAcknowledged((Date.parse(incident.acknowledgedAt!) - Date.parse(incident.raisedAt)) / 1000);
    this.#guard(() => this.#fanout?.update(incident.room, 'panic:acknowledged', { incidentId, by, at: incident.acknowledgedAt }, incident.identity));
    return incident;
  }

  /** Only by the raiser, from the room the alarm was raised in (the same identity elsewhere may not). */
  async cancel(incidentId: string, by: Actor & { readonly room: string }) {
    const open = this.#get(incidentId);
    if (open.raiser.identity !== by.identity || open.incident.room !== by.room) {
      throw new SfuError('PERMISSION_DENIED', 'only the person who raised an alarm can cancel it, from the room it was raised in');
    }
    const incident = await this.#append(open, { type: 'cancelled', actor: by.identity, data: {} });
    this.#guard(() => this.#fanout?.update(incident.room, 'panic:cancelled', { incidentId, by, at: incident.cancelledAt }, incident.identity));
    return incident;
  }

  /**
   * Resolves an acknowledged incident. An unacknowledged one is refused (INCIDENT_NOT_ACKNOWLEDGED)
   * unless `acknowledge` is set: then it is acknowledged by the same responder first (recorded and
   * broadcast like a `panic:ack`), and resolved after (docs/safety.md, "Acknowledge before resolve").
   */
  async resolve(incidentId: string, by: Actor, outcome: Outcome, note?: string, opts: { acknowledge?: boolean } = {}) {
    if (!this.#get(incidentId).incident.acknowledgedBy) {
      if (!opts.acknowledge) throw new SfuError('INCIDENT_NOT_ACKNOWLEDGED', 'acknowledge the alarm before resolving it (or resolve with acknowledge: true)');
      await this.acknowledge(incidentId, by);
    }
    // Looked up again: it may have been resolved by someone else meanwhile (INCIDENT_NOT_FOUND).
    const open = this.#get(incidentId);
    // What was counted is written first; from now on a re-raise is written (not counted), so one
    // that comes while the resolve is written finds the incident resolved and opens a new one.
    this.#writeBatch(open, this.#reRaiseBatches.take(incidentId));
    this.#reRaiseBatches.drop(incidentId);
    const incident = await this.#append(open, { type: 'resolved', actor: by.identity, data: { role: by.role, outcome, ...(note ? { hasNote: true } : {}) } });
    for (const t of open.timers) clearTimeout(t);
    this.#open.delete(incidentId);
    this.#resolvedHere.add(incidentId);
    if (this.#resolvedHere.size > 1000) this.#resolvedHere.delete(this.#resolvedHere.values().next().value!);
    if (this.#reloadTimer) this.#resolvedBeforeLoad.add(incidentId);
    this.#rounds?.resolved(incidentId);
    this.#reRaiseKeys.drop(incidentId);
    this.#reAlerts.drop(incidentId);
    this.#reRaiseBatches.drop(incidentId);
    this.#o.metrics.panicOpen(this.#open.size);
    this.#guard(() => this.#fanout?.update(incident.room, 'panic:resolved', { incidentId, by, outcome, at: incident.resolvedAt }, incident.identity));
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

  /**
   * Records an event (store, else spool, else memory: at most storeDeadlineMs) and returns the
   * incident with it; re-raises counted so far are written before it (then those counted meanwhile).
   */
  async #append(open: Open, e: Omit<IncidentEvent, 'incidentId' | 'at'>): Promise<Incident> {
    if (e.type !== 're-raised') this.#writeBatch(open, this.#reRaiseBatches.take(open.incident.id));
    const event: IncidentEvent = { ...e, incidentId: open.incident.id, at: new Date().toISOString() };
    const written = await this.#journal.event(event);
    open.incident = written.incident ? this.#reRaiseBatches.overlay(written.incident) : foldEvent(open.incident, event);
    if (written.durability !== 'store') this.#o.log.warn({ incidentId: event.incidentId, type: event.type, durability: written.durability }, 'panic event not in the store yet');
    return open.incident;
  }

  /** Writes counted re-raises as one `re-raised` event (the incident in memory counts them already). */
  #writeBatch(open: Open | undefined, batch: ReRaiseBatch | undefined): void {
    if (open && batch) writeBatch(this.#journal, this.#o.log, open.incident.id, open.raiser.identity, batch);
  }

  #guard(fn: () => unknown): void {
    guardFanout(this.#o.log, fn);
  }

  /** Another node holds the incident's lease: it escalates it, not this node. */
  #drop(incidentId: string): void {
    const open = this.#open.get(incidentId);
    if (!open) return;
    for (const t of open.timers) clearTimeout(t);
    // Counted here: this node's to record.
    this.#writeBatch(open, this.#reRaiseBatches.take(incidentId));
    this.#reRaiseBatches.drop(incidentId);
    this.#open.delete(incidentId);
    this.#reRaiseKeys.drop(incidentId);
    this.#reAlerts.drop(incidentId);
    this.#o.metrics.panicOpen(this.#open.size);
    this.#o.metrics.escalationLeaseLost();
    this.#o.log.warn({ incidentId }, 'escalation lease held by another node: this node stops escalating the incident (that node does; commands are relayed to it)');
  }

  /**
   * Resumes an incident whose lease this node won (EscalationRounds): held open here, the takeover
   * recorded, then the next tier at its scheduled time (a tier past due at once).
   */
  async #adopt(incident: Incident, events: readonly IncidentEvent[]): Promise<void> {
    if (this.#open.has(incident.id) || this.#stopped) return;
    const raiser: Raiser = { room: incident.room, participantId: incident.participantId, identity: incident.identity, role: incident.role };
    const open: Open = { incident, timers: [], raiser };
    this.#open.set(incident.id, open);
    this.#reRaiseKeys.load(incident, events);
    this.#o.metrics.panicOpen(this.#open.size);
    // Recorded before the tiers are scheduled (bounded by the store deadline), so that it comes first in the timeline.
    await this.#append(open, { type: 'escalation-taken-over', actor: 'system', data: { node: this.#rounds!.nodeId } });
    if (this.#open.get(incident.id) !== open) return;
    this.#tiers.schedule(incident.id);
    void this.#webhooks.redeliver(open.incident, (i, tier) => this.alertFor(i, tier));
    this.#o.log.warn({ incidentId: incident.id, tier: open.incident.tier, acknowledged: open.incident.acknowledgedBy !== undefined }, 'escalation taken over: no live node held the incident\'s lease');
  }

  stop(): void {
    this.#stopped = true;
    this.#rounds?.stop();
    for (const o of this.#open.values()) for (const t of o.timers) clearTimeout(t);
    this.#stopReload();
    this.#reAlerts.stop();
    // Counted re-raises go to the journal (the store, or the spool) before it stops.
    for (const [id, batch] of this.#reRaiseBatches.stop()) this.#writeBatch(this.#open.get(id), batch);
    this.#journal.stop();
    this.#o.sender.stop();
  }
}

export type { Durability };
