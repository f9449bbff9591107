import type { Incident, IncidentEvent, IncidentKind } from '../../domain/incident.ts';

/** What a raise carries (the `panic:raise` data). */
export interface RaiseInput {
  readonly kind: IncidentKind;
  readonly silent: boolean;
  readonly note?: string | undefined;
  readonly coordinates?: Incident['coordinates'];
  readonly clientIncidentId: string;
}

/**
 * Where a raise over the participant's cap of open incidents is recorded: on their newest open
 * incident that is not cancelled, else on their newest. `open` is not empty and in the order the
 * incidents were opened: raises within the same millisecond (raisedAt is ISO to the millisecond)
 * are told apart by it, the later one newer (CI once saw three raises share a millisecond).
 */
export function reRaiseTarget(open: readonly Incident[]): Incident {
  const newestFirst = open.map((incident, order) => ({ incident, order }))
    .sort((a, b) => b.incident.raisedAt.localeCompare(a.incident.raisedAt) || b.order - a.order)
    .map((x) => x.incident);
  return newestFirst.find((i) => !i.cancelledAt) ?? newestFirst[0]!;
}

/**
 * The `re-raised` event for a raise recorded on an open incident. Events are stored and audited in
 * clear, so the note and coordinates (sealed on a raise) are not copied: only that there were some.
 */
export function reRaisedEvent(raiserIdentity: string, input: RaiseInput): Omit<IncidentEvent, 'incidentId' | 'at'> {
  return {
    type: 're-raised',
    actor: raiserIdentity,
    data: {
      clientIncidentId: input.clientIncidentId, kind: input.kind, silent: input.silent,
      ...(input.note ? { hasNote: true } : {}), ...(input.coordinates ? { hasCoordinates: true } : {}),
    },
  };
}

const keyOf = (room: string, identity: string, clientIncidentId: string) => `${room}\u0000${identity}\u0000${clientIncidentId}`;

/**
 * The idempotency keys of raises recorded on open incidents (a raise that opened an incident is
 * found by its own key): a retry with the same key gets the same answer and records nothing more.
 */
export class ReRaiseKeys {
  readonly #keys = new Map<string, { incidentId: string; at: string }>();

  get(room: string, identity: string, clientIncidentId: string): { incidentId: string; at: string } | undefined {
    return this.#keys.get(keyOf(room, identity, clientIncidentId));
  }

  set(room: string, identity: string, clientIncidentId: string, incidentId: string, at: string): void {
    this.#keys.set(keyOf(room, identity, clientIncidentId), { incidentId, at });
  }

  /** After a restart: the keys of an open incident's `re-raised` events. */
  load(incident: Incident, events: readonly IncidentEvent[]): void {
    for (const e of events) {
      if (e.type === 're-raised' && typeof e.data.clientIncidentId === 'string') {
        this.set(incident.room, incident.identity, e.data.clientIncidentId, incident.id, e.at);
      }
    }
  }

  /** The incident was resolved: its keys are no longer needed. */
  drop(incidentId: string): void {
    for (const [k, v] of this.#keys) if (v.incidentId === incidentId) this.#keys.delete(k);
  }
}
