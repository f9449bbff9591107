import type { Role } from '../domain/roles.ts';

/** Who may receive whose media, by role (privacy); configured in `forwarding`. */
export interface ForwardingPolicy {
  /** subscriber role -> publisher roles it may receive. */
  readonly receive: Readonly<Record<Role, readonly Role[]>>;
  /** Rooms where every subscriber may receive every publisher (e.g. a group that may see each other). */
  readonly openRooms: readonly string[];
}

/**
 * Whether `subscriber` may receive `publisher`'s media in `room`. The server never creates a
 * consumer against this: the decision is made here, not in clients.
 */
export function mayReceive(policy: ForwardingPolicy, room: string, subscriber: Role, publisher: Role): boolean {
  if (policy.openRooms.includes(room)) return true;
  return policy.receive[subscriber]?.includes(publisher) ?? false;
}
