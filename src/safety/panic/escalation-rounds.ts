import { deriveIncident, raiseOf, type Incident, type IncidentEvent, type IncidentStore } from '../../domain/incident.ts';
import type { EscalationOwnership } from '../../domain/escalation-ownership.ts';
import { attempt, within } from '../../shared/deadline.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { foldEvents } from './fold.ts';

/** How long an incident resolved here is not taken over again by a read that began before the resolve. */
const CLOSED_MEMORY_MS = 60_000;

/**
 * How often the store's open incidents are read to find incidents the Redis registry does not list
 * (raised while Redis was down on a node that died before Redis answered again, or a Redis that
 * lost its data): a backstop; the registry finds the others every round.
 */
export const STORE_SCAN_MS = 10_000;

/** What the rounds need of the panic service: the incidents it holds open, and how to drop or adopt one. */
export interface EscalationHost {
  /** The incidents held open here (whose escalation this node runs). */
  held(): readonly Incident[];
  holds(incidentId: string): boolean;
  /** Another node holds the lease: stop escalating it here. */
  drop(incidentId: string): void;
  /** Events of the incident this node has not written to the store yet (spool or memory), in order. */
  pendingEvents(incidentId: string): readonly IncidentEvent[];
  /** The lease was won: hold the incident open and resume its escalation (it records the takeover). */
  adopt(incident: Incident, events: readonly IncidentEvent[]): Promise<void>;
}

export interface EscalationRoundsOptions {
  readonly ownership: EscalationOwnership;
  readonly host: EscalationHost;
  readonly store: Pick<IncidentStore, 'open' | 'get' | 'events'>;
  /** Bound of each store read of a round. */
  readonly storeDeadlineMs: number;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/**
 * The ownership rounds of the panic service with Redis (docs/scaling.md, "Escalation owned once"):
 * every `intervalMs`, renew the leases of what this node holds (dropping what another node holds),
 * then take over the incidents nobody owns and resume them. Every Redis call and store read is
 * bounded; none is in an alarm's path (a raise's lease is taken in the background by `claim`).
 */
export class EscalationRounds {
  readonly #o: EscalationRoundsOptions;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  /** When the store's open incidents were last read (the backstop); the first round reads them. */
  #lastScan = Number.NEGATIVE_INFINITY;
  /** Incidents resolved (or given up) here lately, with when: a read begun before that must not take them again. */
  readonly #closedHere = new Map<string, number>();
  /** Registered incidents the store did not have when their lease was won (warned about once). */
  readonly #notStored = new Set<string>();

  constructor(o: EscalationRoundsOptions) {
    this.#o = o;
  }

  get nodeId(): string {
    return this.#o.ownership.nodeId;
  }

  start(): void {
    if (this.#stopped || this.#timer) return;
    void this.#round();
    this.#timer = setInterval(() => void this.#round(), this.#o.ownership.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * A raise on this node, after it was delivered: registers the incident and takes its lease, in the
   * background. The registration is sent first on the same connection, so that an incident whose
   * lease another node can see is registered too (and found by the takeover should this node die).
   */
  claim(incident: Incident): void {
    void this.#o.ownership.register([{ id: incident.id, raisedAt: incident.raisedAt }]);
    void this.#renew([incident], false).catch((err: unknown) => this.#o.log.error({ err }, 'escalation lease of a new incident not taken'));
  }

  /** Resolved here: out of the registry, the lease given up, and not taken over again by a round under way. */
  resolved(incidentId: string): void {
    this.#closedHere.set(incidentId, Date.now());
    this.#o.ownership.closed(incidentId);
  }

  /** One renewal and takeover round at a time (each Redis call and store read is bounded). */
  async #round(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      await this.#renew(this.#o.host.held(), true);
      await this.#takeOver();
    } catch (err) {
      this.#o.log.error({ err }, 'escalation ownership round failed');
    } finally {
      this.#running = false;
    }
  }

  /**
   * Takes or renews the leases of incidents held here; those another node holds are dropped here
   * (that node escalates them). Redis not answering: nothing changes (this node escalates what it
   * holds: safety first; a peer can take the same incident over only once the lease ran out in
   * Redis). A lease created rather than renewed (Redis was down at the raise, or lost its data) is
   * registered again.
   */
  async #renew(incidents: readonly Incident[], register: boolean): Promise<void> {
    if (incidents.length === 0) return;
    const r = await this.#o.ownership.hold(incidents.map((i) => i.id));
    if (!r) return;
    for (const id of r.elsewhere) this.#o.host.drop(id);
    const again = register ? incidents.filter((i) => r.taken.has(i.id) && this.#o.host.holds(i.id)) : [];
    if (again.length > 0) await this.#o.ownership.register(again);
  }

  /**
   * Incidents nobody owns (no lease: their owner died, or was cut off from Redis longer than a
   * lease) that were raised over a lease ago (a fresh raise's lease is its raiser's to take). Every
   * round: one read of the registry, then one MGET of the leases of those not held here (and, every
   * STORE_SCAN_MS, of the store's open incidents the registry does not list); the lease is tried
   * only for those with none, and those won are resumed.
   */
  async #takeOver(): Promise<void> {
    const { ownership, host } = this.#o;
    const now = Date.now();
    for (const [id, at] of this.#closedHere) if (now - at > CLOSED_MEMORY_MS) this.#closedHere.delete(id);
    const raisedBefore = now - ownership.leaseMs;
    const registered = await ownership.registered(raisedBefore);
    // Redis not answering: nobody can take anything over now; the store is not read for nothing.
    if (!registered || this.#stopped) return;
    const listed = new Set(registered);
    const skip = (id: string) => host.holds(id) || this.#closedHere.has(id);
    const candidates = new Map<string, Incident | undefined>(registered.filter((id) => !skip(id)).map((id) => [id, undefined]));
    if (now - this.#lastScan >= STORE_SCAN_MS) {
      this.#lastScan = now;
      for (const i of await this.#openInStore(raisedBefore)) if (!listed.has(i.id) && !skip(i.id)) candidates.set(i.id, i);
    }
    if (candidates.size === 0 || this.#stopped) return;
    const unleased = await ownership.unleased([...candidates.keys()]);
    if (!unleased || unleased.length === 0 || this.#stopped) return;
    const fromStore = unleased.filter((id) => candidates.get(id) !== undefined).length;
    if (fromStore > 0) this.#o.metrics.escalationTakeoverAttempts('store', fromStore);
    if (unleased.length > fromStore) this.#o.metrics.escalationTakeoverAttempts('registry', unleased.length - fromStore);
    const r = await ownership.hold(unleased);
    if (!r) return;
    // Found in the store only: registered now, so that the registry lists them from here on.
    const register = unleased.flatMap((id) => {
      const i = candidates.get(id);
      return i && r.held.has(id) ? [i] : [];
    });
    if (register.length > 0) void ownership.register(register);
    for (const id of unleased) if (r.held.has(id)) await this.#resume(id, candidates.get(id));
  }

  /** The store's open incidents raised at or before `raisedBefore` (one read, bounded; none when it does not answer). */
  async #openInStore(raisedBefore: number): Promise<Incident[]> {
    const read = await within(attempt(() => this.#o.store.open()), this.#o.storeDeadlineMs);
    if (!read.settled || !read.ok) return [];
    return read.value.filter((i) => i.state !== 'resolved' && Date.parse(i.raisedAt) <= raisedBefore);
  }

  /**
   * An incident whose lease this node won: read from the store (its events, and the incident itself
   * when the registry named it; bounded), with what this node has not written yet folded on, and
   * handed to the service to resume. Resolved meanwhile: out of the registry. Not readable (store
   * down, or the raise only in a dead node's spool): the lease is given back, and tried again.
   */
  async #resume(id: string, listed: Incident | undefined): Promise<void> {
    const { ownership, host, store } = this.#o;
    const read = await within(attempt(() => Promise.all([listed ?? store.get(id), store.events(id)])), this.#o.storeDeadlineMs);
    const base = read.settled && read.ok ? read.value[0] : listed;
    if (!base) {
      ownership.release(id);
      // Tried again every round: told once per incident.
      if (read.settled && read.ok && !this.#notStored.has(id)) {
        if (this.#notStored.size >= 1000) this.#notStored.clear();
        this.#notStored.add(id);
        this.#o.log.warn({ incidentId: id }, 'registered incident not in the store yet: its lease is given back, to be tried again');
      }
      return;
    }
    const stored = read.settled && read.ok ? read.value[1] : undefined;
    const { incident, events } = foldEvents(stored ? deriveIncident(raiseOf(base), stored) : base, stored ?? [], host.pendingEvents(id));
    if (incident.state === 'resolved') return void ownership.closed(id);
    if (host.holds(id)) return;
    if (this.#closedHere.has(id) || this.#stopped) return void ownership.release(id);
    this.#o.metrics.escalationTakeover();
    await host.adopt(incident, events);
  }
}
