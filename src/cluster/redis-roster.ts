import type { Role } from '../domain/roles.ts';
import { ROLES } from '../domain/roles.ts';
import type { Participant } from '../room/participant.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { ROOM_KEY_PREFIX } from './placement.ts';
import type { RedisLink } from './redis.ts';
import { CLAIM_SCRIPT, SYNC_SCRIPT } from './roster-scripts.ts';
import type { ClaimResult, RosterEntry, SessionRoster } from './session-roster.ts';

/** Prefix (after the key prefix) of a node's roster of a room: `roster:<room>:<node>`. */
export const ROSTER_KEY_PREFIX = 'roster:';
/** Rooms per SYNC call of a tick (bounds the script's run time and the call's size). */
const ROOMS_PER_CALL = 500;

/**
 * A tick writes an attached session again only when this node's last successful write of it is at
 * least this old: a quarter of the resume window. So a tick costs O(sessions written a quarter of
 * a window ago), not O(sessions), and a stored `seen` lags the last time the node saw the session
 * attached by at most this plus one tick (the refresh is made by the first tick after it is due).
 */
export function refreshAfterMs(windowMs: number): number {
  return Math.floor(windowMs / 4);
}

/**
 * How old a stored `seen` may be for a claim (and how long a roster key lives after its last
 * write): the window plus the refresh age, so that the window's guarantee holds although `seen`
 * lags: a session its node saw attached within the window is claimable. (The cost: one seen last
 * just before the refresh was due is claimable up to `refreshAfterMs` longer than the window.)
 */
export function claimWindowMs(windowMs: number): number {
  return windowMs + refreshAfterMs(windowMs);
}

/** What the roster reads of a participant. */
export type RosterParticipant = Pick<Participant, 'id' | 'role' | 'identity' | 'state'>;

/** What the roster needs of the room registry (src/room/registry.ts). */
export interface RosterRooms {
  readonly rooms: readonly { readonly id: string; readonly closed: boolean; readonly participants: readonly RosterParticipant[] }[];
  onParticipant(listener: (change: 'admitted' | 'left', roomId: string, participant: RosterParticipant) => void): () => void;
  onClosed(listener: (roomId: string) => void): () => void;
}

export interface RedisRosterOptions {
  readonly link: Pick<RedisLink, 'key' | 'eval'>;
  readonly rooms: RosterRooms;
  readonly nodeId: string;
  /** How long after its node last saw it attached a session may be restored on another node. */
  readonly windowMs: number;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'rosterWrite'>;
}

type Change = { readonly write: Map<string, string>; readonly remove: Set<string> };

/**
 * The session roster in Redis (docs/scaling.md, "Node loss"): each node writes, per room it hosts,
 * the sessions attached there (at admission, and every tick with Redis's clock as `seen`) and
 * removes those that leave; a session whose node died can then be claimed by exactly one other
 * node within the resume window. Nothing waits on these writes: a write that fails is retried by
 * the next tick (a removal too), and without Redis a session simply cannot be restored elsewhere.
 */
export class RedisRoster implements SessionRoster {
  readonly #o: RedisRosterOptions;
  /** Removals whose write failed, per room: sent again with the next tick. */
  readonly #unremoved = new Map<string, Set<string>>();
  /** Sessions written per room by this node (to remove them all when the room closes), with when (performance.now()) their last write that succeeded was sent (-Infinity: none yet). */
  readonly #written = new Map<string, Map<string, number>>();
  readonly #refreshAfterMs: number;
  readonly #claimWindowMs: number;
  readonly #stops: (() => void)[] = [];

  constructor(o: RedisRosterOptions) {
    this.#o = o;
    this.#refreshAfterMs = refreshAfterMs(o.windowMs);
    this.#claimWindowMs = claimWindowMs(o.windowMs);
    this.#stops.push(o.rooms.onParticipant((change, room, p) => {
      if (change === 'admitted') void this.#send([[room, { write: new Map([[p.id, value(p)]]), remove: new Set() }]]);
      else this.#remove(room, [p.id]);
    }));
    this.#stops.push(o.rooms.onClosed((room) => this.#remove(room, [...(this.#written.get(room)?.keys() ?? [])])));
  }

  /**
   * Writes with a fresh `seen` the attached sessions whose last write is `refreshAfterMs` old (or
   * that were never written, or whose write failed), and retries failed removals; never rejects.
   */
  async tick(): Promise<void> {
    const changes = new Map<string, Change>();
    const due = performance.now() - this.#refreshAfterMs;
    for (const room of this.#o.rooms.rooms) {
      if (room.closed) continue;
      const write = new Map<string, string>();
      const written = this.#written.get(room.id);
      for (const p of room.participants) if (p.state === 'admitted' && (written?.get(p.id) ?? -Infinity) <= due) write.set(p.id, value(p));
      if (write.size > 0) changes.set(room.id, { write, remove: new Set() });
    }
    for (const [room, ids] of this.#unremoved) {
      const c = changes.get(room) ?? { write: new Map(), remove: new Set() };
      for (const id of ids) if (!c.write.has(id)) c.remove.add(id);
      changes.set(room, c);
    }
    this.#unremoved.clear();
    const all = [...changes];
    const calls: Promise<void>[] = [];
    for (let i = 0; i < all.length; i += ROOMS_PER_CALL) calls.push(this.#send(all.slice(i, i + ROOMS_PER_CALL)));
    await Promise.all(calls);
  }

  async claim(room: string, sessionId: string, from: string): Promise<ClaimResult> {
    let reply: unknown;
    try {
      reply = await this.#o.link.eval(CLAIM_SCRIPT, [this.#key(room, from), this.#key(room, this.#o.nodeId), this.#o.link.key(ROOM_KEY_PREFIX + room)],
        [sessionId, this.#o.nodeId, this.#claimWindowMs, this.#claimWindowMs]);
    } catch {
      return { kind: 'unavailable' };
    }
    const [kind, raw] = Array.isArray(reply) ? reply as unknown[] : [];
    if (kind === 'elsewhere' || kind === 'none') return { kind };
    const entry = kind === 'claimed' && typeof raw === 'string' ? parseEntry(raw) : undefined;
    if (!entry) {
      this.#o.log.error({ room }, 'cluster: unexpected roster claim reply');
      return { kind: 'unavailable' };
    }
    // Its `seen` is the lost node's: written afresh by the next tick (or the admission here).
    this.#track(room, sessionId, true);
    return { kind: 'claimed', entry };
  }

  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
  }

  #key(room: string, node: string): string {
    return this.#o.link.key(`${ROSTER_KEY_PREFIX}${room}:${node}`);
  }

  /** Tracks a session written (`true`: not known to be stored yet; a number: stored by a write sent then) or removed (`false`). */
  #track(room: string, sessionId: string, written: boolean | number): void {
    let ids = this.#written.get(room);
    if (written === true) {
      if (!ids) this.#written.set(room, ids = new Map());
      if (!ids.has(sessionId)) ids.set(sessionId, -Infinity);
    } else if (written !== false) {
      // Only while still tracked: a session removed while its write was on its way stays removed.
      if (ids?.has(sessionId)) ids.set(sessionId, written);
    } else if (ids) {
      ids.delete(sessionId);
      if (ids.size === 0) this.#written.delete(room);
    }
  }

  #remove(room: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.#track(room, id, false);
    void this.#send([[room, { write: new Map(), remove: new Set(ids) }]]);
  }

  /** One SYNC call; a failed removal is kept for the next tick. */
  async #send(changes: readonly (readonly [string, Change])[]): Promise<void> {
    if (changes.length === 0) return;
    const keys: string[] = [];
    const args: (string | number)[] = [this.#claimWindowMs];
    for (const [room, c] of changes) {
      keys.push(this.#key(room, this.#o.nodeId));
      args.push(c.write.size);
      for (const [id, v] of c.write) {
        args.push(id, v);
        this.#track(room, id, true);
      }
      args.push(c.remove.size, ...c.remove);
    }
    const sentAt = performance.now();
    try {
      await this.#o.link.eval(SYNC_SCRIPT, keys, args);
      this.#o.metrics.rosterWrite('ok');
      for (const [room, c] of changes) for (const id of c.write.keys()) this.#track(room, id, sentAt);
    } catch {
      this.#o.metrics.rosterWrite('failed');
      for (const [room, c] of changes) {
        if (c.remove.size === 0) continue;
        let ids = this.#unremoved.get(room);
        if (!ids) this.#unremoved.set(room, ids = new Set());
        for (const id of c.remove) ids.add(id);
      }
    }
  }
}

/** The roster value of a participant (SYNC prefixes Redis's clock). */
function value(p: RosterParticipant): string {
  return `${p.role}|${p.identity}`;
}

function parseEntry(raw: string): RosterEntry | undefined {
  const m = /^\d+\|([a-z]+)\|(.+)$/s.exec(raw);
  if (!m || !(ROLES as readonly string[]).includes(m[1]!)) return undefined;
  return { role: m[1] as Role, identity: m[2]! };
}
