/**
 * Who owns an open incident's escalation (docs/scaling.md, "Escalation owned once"): what the panic
 * service needs; with no Redis configured there is none, and the node owns everything it holds.
 */
export interface EscalationOwnership {
  readonly nodeId: string;
  /** How long a lease lasts unless renewed; incidents younger than this are left to their raiser. */
  readonly leaseMs: number;
  /** How often the owner renews its leases and looks for incidents nobody owns. */
  readonly intervalMs: number;
  /**
   * Takes or keeps the leases of these incidents: resolves with those this node holds now (and, of
   * them, those whose lease it created rather than renewed) and those another node holds (an
   * incident whose call failed is in none), or undefined when Redis did not answer at all (down, or
   * the call's deadline).
   */
  hold(incidentIds: readonly string[]): Promise<LeaseHold | undefined>;
  /**
   * Adds open incidents to the registry of open incidents (with when they were raised; one already
   * there keeps its entry). Resolves false when Redis did not answer.
   */
  register(incidents: readonly RegisteredIncident[]): Promise<boolean>;
  /** The registered incidents raised at or before `raisedBefore` (epoch ms): one read. Undefined when Redis did not answer. */
  registered(raisedBefore: number): Promise<string[] | undefined>;
  /** Of these incidents, those with no lease (one read). Undefined when Redis did not answer. */
  unleased(incidentIds: readonly string[]): Promise<string[] | undefined>;
  /** Gives the lease up (compare-and-delete), in the background; a failure lets it run out. */
  release(incidentId: string): void;
  /** The incident is resolved: out of the registry, and its lease given up; in the background. */
  closed(incidentId: string): void;
}

export interface LeaseHold {
  readonly held: ReadonlySet<string>;
  /** Of `held`: leases nobody held before this call (a raise, a takeover, or a lease that ran out). */
  readonly taken: ReadonlySet<string>;
  readonly elsewhere: ReadonlySet<string>;
}

export interface RegisteredIncident {
  readonly id: string;
  /** ISO time, as the incident has it. */
  readonly raisedAt: string;
}
