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
   * Takes or keeps the leases of these incidents: resolves with those this node holds now and those
   * another node holds (an incident whose call failed is in neither), or undefined when Redis did
   * not answer at all (down, or the call's deadline).
   */
  hold(incidentIds: readonly string[]): Promise<LeaseHold | undefined>;
  /** Gives the lease up (compare-and-delete), in the background; a failure lets it run out. */
  release(incidentId: string): void;
}

export interface LeaseHold {
  readonly held: ReadonlySet<string>;
  readonly elsewhere: ReadonlySet<string>;
}
