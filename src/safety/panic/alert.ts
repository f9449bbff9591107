import type { Role } from '../../domain/roles.ts';
import type { Incident } from '../../domain/incident.ts';
import type { Location } from '../../store/types.ts';
import type { TargetReach } from '../../domain/escalation-reach.ts';

export interface Tier { readonly afterSeconds: number; readonly notify: readonly string[] }

/** Who raised or handles an alarm. */
export interface Actor { readonly identity: string; readonly role: Role | 'desk' }

/** The raising participant, as the room knows it. */
export interface Raiser extends Actor {
  readonly room: string;
  readonly participantId: string;
  readonly role: Role;
}

/**
 * A participant's latest location as an alert carries it: the full record (description, region,
 * source, capturedAt, coordinates when given), or, when only the room's in-memory summary is at
 * hand, its region and description.
 */
export type KnownLocation = Pick<Location, 'region' | 'description'> & Partial<Omit<Location, 'region' | 'description'>>;

/** What responders receive: the incident, who raised it, where they are and whom to call. */
export interface Alert {
  readonly incident: Incident;
  readonly participant: { participantId: string; identity: string; role: Role };
  readonly location: Omit<KnownLocation, 'emergencyContact'> | null;
  readonly emergencyContact: { name: string; phone: string } | null;
  readonly tier: number;
  readonly replay?: boolean;
  /**
   * Replays only: what became of each target of the tier the incident is at (`tier` > 0), as
   * `panic:escalated` said, while the node that ran that tier holds the incident (absent after a
   * restart or a takeover: not known then).
   */
  readonly escalation?: readonly TargetReach[];
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

/** How alerts and updates reach people; the socket.io layer (and signalling) implement it. */
export interface PanicFanout {
  /** Clinical roles in the room; resolves with how many received it. */
  alertClinicians(room: string, alert: Alert): number;
  /** Desk clients whose scope covers the room; resolves with how many received it. */
  alertDesks(room: string, alert: Alert): number;
  /** The other participants of the room, not the raiser (non-silent alarms, when configured): no location, no contact. */
  announceToRoom(room: string, incident: Incident): void;
  /** Acknowledged / escalated / cancelled / resolved: to clinicians and desks in scope, and to the raiser. */
  update(room: string, event: string, payload: object, raiserIdentity: string): void;
  /**
   * Resolves once the alerts sent so far have left for every connection they were queued on (a
   * long-polling responder between two polls holds them until its next poll), or after
   * `maxWaitMs`; true when all left in time. Optional: without it, queued counts as sent.
   */
  delivered?(maxWaitMs: number): Promise<boolean>;
  /**
   * Open incidents this node came to hold after start-up without a raise (the store's open
   * incidents read late, or merged from the spool backlog): sent to the connected responders that
   * may see them, as a connection replay would. Optional: without it, they reach responders on a
   * tier that comes due or at their next connection.
   */
  resumed?(incidents: readonly Incident[]): void;
}
