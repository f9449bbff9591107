import type { RoomRegistry } from '../room/registry.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { chooseNode } from './node-score.ts';
import { PLACE_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT } from './placement-scripts.ts';
import { decodePresence } from './presence-record.ts';
import { NODE_KEY_PREFIX, type NodePresence } from './presence.ts';
import type { RedisLink } from './redis.ts';
import { LOCAL, type PlacementDecision, type RoomPlacement } from './room-placement.ts';
import { newSecret } from '../shared/ids.ts';

/** Prefix (after the key prefix) of a room's placement: `room:<room id>` -> node id, with a lease. */
export const ROOM_KEY_PREFIX = 'room:';
/** Prefix of the key naming the PLACE call that wrote a room's placement (placement-scripts.ts). */
export const ROOM_BY_KEY_PREFIX = 'room-by:';
/** Rooms renewed per RENEW script call (one call per chunk per tick), so that no one call holds Redis long (not timed). */
export const RENEW_CHUNK = 500;

export interface RedisPlacementOptions {
  readonly link: Pick<RedisLink, 'key' | 'eval'>;
  readonly presence: Pick<NodePresence, 'view' | 'placedOn'>;
  readonly rooms: Pick<RoomRegistry, 'get' | 'rooms' | 'onClosed'>;
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'placement' | 'leaseEvent'>;
  readonly random?: () => number;
}

/**
 * Room placement over Redis (docs/scaling.md, "Placement"). A room open here is hosted here (no
 * Redis call). Otherwise one atomic script reads the room's holder and, if there is none (or the
 * holder's presence expired), records the node chosen by load (SET NX; a takeover replaces the dead
 * holder): concurrent first joins on several nodes all get the one holder Redis recorded first.
 * Placements decided here (claims) and the rooms open here have their leases renewed every tick
 * (one script call per 500 rooms);
 * a room that closes here releases its lease. Redis failing or hanging (the call's deadline): the
 * room is kept here (`redis_down`) and recorded by the next renewal once Redis answers.
 */
export class RedisPlacement implements RoomPlacement {
  readonly #o: RedisPlacementOptions;
  /** One placement per room at a time on this node: concurrent joins of a room share it. */
  readonly #inflight = new Map<string, Promise<PlacementDecision>>();
  /** Rooms placed here whose room is not open (yet): renewed until it opens, or for one lease. */
  readonly #claims = new Map<string, number>();
  /** Rooms kept here after their PLACE call failed: that call's id, until a renewal records the room here. */
  readonly #failedCalls = new Map<string, string>();
  /** Rooms hosted here whose lease another live node holds (counted and logged once per episode). */
  readonly #conflicted = new Set<string>();
  readonly #stopClosed: () => void;

  constructor(o: RedisPlacementOptions) {
    this.#o = o;
    this.#stopClosed = o.rooms.onClosed((id) => this.#release(id));
  }

  place(roomId: string): Promise<PlacementDecision> {
    if (this.#hostedHere(roomId)) return Promise.resolve(LOCAL);
    let p = this.#inflight.get(roomId);
    if (!p) {
      p = this.#place(roomId).finally(() => this.#inflight.delete(roomId));
      this.#inflight.set(roomId, p);
    }
    return p;
  }

  /**
   * Renews the lease of every room hosted or claimed here: one RENEW script call per RENEW_CHUNK
   * rooms (sent together, each bounded by the link's call deadline); never rejects. A call that
   * fails counts a `failed` lease event for each of its rooms.
   */
  async renewLeases(): Promise<void> {
    const now = performance.now();
    const ids = new Set(this.#o.rooms.rooms.filter((r) => !r.closed).map((r) => r.id));
    for (const [id, at] of this.#claims) {
      if (ids.has(id) || now - at > this.#o.leaseMs) this.#claims.delete(id);
      else ids.add(id);
    }
    for (const id of this.#failedCalls.keys()) if (!ids.has(id)) this.#failedCalls.delete(id);
    const all = [...ids];
    const chunks: string[][] = [];
    for (let i = 0; i < all.length; i += RENEW_CHUNK) chunks.push(all.slice(i, i + RENEW_CHUNK));
    await Promise.all(chunks.map(async (chunk) => {
      let replies: unknown;
      try {
        replies = await this.#o.link.eval(RENEW_SCRIPT, chunk.flatMap((id) => this.#roomKeys(id)),
          [this.#o.nodeId, this.#o.leaseMs, this.#o.link.key(NODE_KEY_PREFIX), ...chunk.map((id) => this.#failedCalls.get(id) ?? '')]);
      } catch {
        for (let i = 0; i < chunk.length; i++) this.#o.metrics.leaseEvent('failed');
        return;
      }
      chunk.forEach((id, i) => this.#renewed(id, Array.isArray(replies) ? replies[i] : undefined));
    }));
  }

  /** One room's renewal outcome: `ok`, `takeover` or `conflict` (anything else counts as failed). */
  #renewed(id: string, r: unknown): void {
    if (r !== 'ok' && r !== 'takeover' && r !== 'conflict') {
      this.#o.metrics.leaseEvent('failed');
      return;
    }
    if (r === 'ok' || r === 'takeover') this.#failedCalls.delete(id);
    if (r === 'takeover') this.#o.metrics.leaseEvent('takeover');
    if (r !== 'conflict') {
      this.#conflicted.delete(id);
    } else if (!this.#conflicted.has(id)) {
      this.#conflicted.add(id);
      this.#o.metrics.leaseEvent('conflict');
      this.#o.log.warn({ room: id }, 'cluster: a room hosted here is placed on another live node (split after a Redis outage?); its participants here stay, the other node gets new joins');
    }
  }

  stop(): void {
    this.#stopClosed();
  }

  #hostedHere(roomId: string): boolean {
    const room = this.#o.rooms.get(roomId);
    return room !== undefined && !room.closed;
  }

  #roomKey(roomId: string): string {
    return this.#o.link.key(ROOM_KEY_PREFIX + roomId);
  }

  #roomKeys(roomId: string): string[] {
    return [this.#roomKey(roomId), this.#o.link.key(ROOM_BY_KEY_PREFIX + roomId)];
  }

  async #place(roomId: string): Promise<PlacementDecision> {
    const me = this.#o.nodeId;
    // This node unless another is clearly less loaded (node-score.ts: chooseNode, estimateLoad).
    const candidate = chooseNode(this.#o.presence.view(), this.#o.random, me)?.node ?? me;
    const call = newSecret(12);
    let reply: unknown;
    try {
      reply = await this.#o.link.eval(PLACE_SCRIPT, this.#roomKeys(roomId), [me, candidate, this.#o.leaseMs, this.#o.link.key(NODE_KEY_PREFIX), call]);
    } catch {
      // Redis down or hung past the call's deadline: kept here; the next renewal records it (if
      // nobody holds it, or if this very call, run late by a resumed Redis, recorded another node).
      this.#claims.set(roomId, performance.now());
      this.#failedCalls.set(roomId, call);
      this.#o.metrics.placement('redis_down');
      return LOCAL;
    }
    // Checked again after the await: a room opened here meanwhile stays here (its lease renewal says if another node holds it).
    if (this.#hostedHere(roomId)) {
      this.#o.metrics.placement('local');
      return LOCAL;
    }
    const [kind, holder, presence] = Array.isArray(reply) ? reply as unknown[] : [];
    if (typeof holder !== 'string' || (kind !== 'held' && kind !== 'new' && kind !== 'takeover')) {
      this.#o.log.error({ room: roomId }, 'cluster: unexpected placement reply; room kept here');
      this.#claims.set(roomId, performance.now());
      this.#o.metrics.placement('redis_down');
      return LOCAL;
    }
    if (holder === me) {
      this.#claims.set(roomId, performance.now());
      this.#o.metrics.placement(kind === 'takeover' ? 'takeover' : 'local');
      return LOCAL;
    }
    const view = typeof presence === 'string' ? decodePresence(presence) : undefined;
    if (!view || view.node !== holder) {
      // A holder whose presence this node cannot read (another version?): nowhere to send the client.
      this.#o.log.error({ room: roomId, node: holder.slice(0, 64) }, 'cluster: the room\'s node has an unreadable presence record; room kept here');
      this.#claims.set(roomId, performance.now());
      this.#o.metrics.placement('redis_down');
      return LOCAL;
    }
    // A room this call placed on another node counts in that node's estimated load until its next record.
    if (kind !== 'held') this.#o.presence.placedOn(holder);
    this.#o.metrics.placement(kind === 'takeover' ? 'takeover' : 'elsewhere');
    return { kind: 'elsewhere', node: holder, url: view.url };
  }

  #release(roomId: string): void {
    // The room's claim (if its tick has not dropped it yet) ends with it. A join placing the room
    // here right now, or a room reopened here meanwhile, keeps the lease (a room reopened after the
    // release is recorded again by the next renewal).
    this.#claims.delete(roomId);
    this.#conflicted.delete(roomId);
    this.#failedCalls.delete(roomId);
    if (this.#hostedHere(roomId) || this.#inflight.has(roomId)) return;
    this.#o.link.eval(RELEASE_SCRIPT, [this.#roomKey(roomId)], [this.#o.nodeId]).catch(() => {
      // Not released: the lease runs out by itself (placementLeaseMs); a join meanwhile is sent here and reopens the room.
    });
  }
}
