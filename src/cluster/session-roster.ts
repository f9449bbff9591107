import type { Role } from '../domain/roles.ts';

/** A session of a lost node that this node may restore: who it was. */
export interface RosterEntry {
  readonly identity: string;
  readonly role: Role;
}

/**
 * What a claim of a session found (docs/scaling.md, "Node loss"):
 * - `claimed`: the session's node is gone and it was present there within the resume window: it is now this node's;
 * - `elsewhere`: the room is placed on another node (alive: the session is that node's, not this one's);
 * - `none`: no such session (it ended, its window passed, or another node restored it first);
 * - `unavailable`: Redis did not answer in time.
 */
export type ClaimResult =
  | { readonly kind: 'claimed'; readonly entry: RosterEntry }
  | { readonly kind: 'elsewhere' | 'none' | 'unavailable' };

/**
 * The sessions each node hosts, kept where every node can read them, so that when a node dies
 * another can restore its sessions from their admission records (docs/scaling.md, "Node loss").
 */
export interface SessionRoster {
  /** Moves session `sessionId` of `room`, last hosted by node `from`, to this node: once, across all nodes. */
  claim(room: string, sessionId: string, from: string): Promise<ClaimResult>;
}

/** A single node: there is no other node whose sessions could be restored here. */
export const localRoster: SessionRoster = { claim: () => Promise.resolve({ kind: 'none' }) };
