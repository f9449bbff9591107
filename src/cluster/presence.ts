import type { Logger } from '../telemetry/logger.ts';
import type { RedisLink } from './redis.ts';
import { estimateLoad, sharesGrowth, type NodeLoad, type NodeView } from './node-score.ts';
import { decodePresence, encodePresence } from './presence-record.ts';

/** The set of node ids that ever announced themselves (pruned of those whose record expired). */
export const NODES_KEY = 'nodes';
/** Prefix (after the key prefix) of a node's presence record: `node:<id>`. */
export const NODE_KEY_PREFIX = 'node:';

/**
 * Reads presence records with their remaining TTL (one atomic call): returns, for each key, its
 * value (nil when expired) and its PTTL in ms. A record's age is then `ttl - PTTL`, to the
 * millisecond, whatever the clocks of the nodes (Redis counts it).
 */
export const PRESENCE_READ_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', key)
  out[2 * i] = redis.call('PTTL', key)
end
return out
`;

/** A node's record as read, and when it was written on this node's clock (performance.now()). */
interface PeerRecord {
  readonly view: NodeView;
  readonly writtenAt: number;
  /** The same node's record before this one (its load and when written), once two were read. */
  readonly prev?: { readonly load: NodeLoad; readonly writtenAt: number } | undefined;
}

export interface NodePresenceOptions {
  readonly link: Pick<RedisLink, 'key' | 'setPx' | 'sadd' | 'srem' | 'smembers' | 'eval'>;
  readonly nodeId: string;
  readonly publicUrl: string;
  readonly ttlMs: number;
  /** This node's state now: drain state and load. */
  readonly self: () => { readonly draining: boolean; readonly load: NodeLoad };
  readonly log: Logger;
}

/**
 * This node's presence in Redis and its view of the other nodes: each tick writes this node's
 * record (`<prefix>node:<id>`, id, public URL, draining, load) with a TTL, and reads every node's
 * record. A node that stops renewing (dead, hung, cut off from Redis) is gone from every view once
 * its record expires. The view read is kept for one TTL; older, it is empty (placement then keeps
 * rooms here). The others' loads in the view are estimated for now (estimateLoad: from each record's
 * age, this node's own load at that moment, kept in a short history, and the rooms this node placed
 * on that node since), so that this node, whose own load is live, compares like with like.
 */
export class NodePresence {
  readonly #o: NodePresenceOptions;
  #peers: { readonly nodes: readonly PeerRecord[]; readonly at: number } = { nodes: [], at: 0 };
  /** This node's load over the last two TTLs (oldest first), sampled at every view and tick: its load when a record was written. */
  readonly #history: { readonly at: number; readonly load: NodeLoad }[] = [];
  /** When this node placed rooms on each other node, over the last two TTLs (ascending). */
  readonly #sent = new Map<string, number[]>();
  /** Nodes whose unreadable record was logged already (once each). */
  readonly #warned = new Set<string>();

  constructor(o: NodePresenceOptions) {
    this.#o = o;
  }

  /** This node as it is now (not as last written). */
  self(): NodeView {
    const s = this.#o.self();
    return { node: this.#o.nodeId, url: this.#o.publicUrl, draining: s.draining, load: s.load };
  }

  /**
   * Every live node: this one as it is now, the others as last read (within one TTL) with their
   * load estimated for now (estimateLoad).
   */
  view(): NodeView[] {
    const now = performance.now();
    const self = this.self();
    this.#sample(now, self.load);
    const fresh = now - this.#peers.at <= this.#o.ttlMs;
    const others = fresh ? this.#peers.nodes.filter((n) => n.view.node !== this.#o.nodeId) : [];
    return [self, ...others.map(({ view, writtenAt, prev }) => {
      const then = this.#loadAt(writtenAt);
      const sentSince = this.#sentTo(view.node, writtenAt, now);
      // Between its last two records: did it grow by itself while this node grew?
      const shares = !prev || sharesGrowth(view.load.rooms - prev.load.rooms - this.#sentTo(view.node, prev.writtenAt, writtenAt),
        then.rooms - this.#loadAt(prev.writtenAt).rooms);
      return { ...view, load: estimateLoad(view.load, then, self.load, sentSince, shares) };
    })];
  }

  /**
   * How many nodes the view holds now, this one included (live, or draining), without sampling
   * this node's load (for the metrics: `sfu_cluster_nodes`). Others only from a read within one TTL.
   */
  counts(): { live: number; draining: number } {
    const fresh = performance.now() - this.#peers.at <= this.#o.ttlMs;
    const others = fresh ? this.#peers.nodes.filter((n) => n.view.node !== this.#o.nodeId).map((n) => n.view.draining) : [];
    const all = [this.#o.self().draining, ...others];
    const draining = all.filter(Boolean).length;
    return { live: all.length - draining, draining };
  }

  /** Placement placed a new room on `node` (another node): counted in that node's estimate until its next record. */
  placedOn(node: string): void {
    const now = performance.now();
    const times = this.#sent.get(node) ?? [];
    this.#sent.set(node, times);
    times.push(now);
    // Kept for two TTLs: the window between a node's last two records reaches that far back at most.
    const keep = firstAfter(times, now - 2 * this.#o.ttlMs, Number);
    if (keep > 0) times.splice(0, keep);
  }

  /** Writes this node's record, then reads everyone's. Rejects when Redis fails (the previous view ages out). */
  async tick(): Promise<void> {
    const { link } = this.#o;
    const self = this.self();
    this.#sample(performance.now(), self.load);
    const record = encodePresence(self);
    await Promise.all([
      link.setPx(link.key(NODE_KEY_PREFIX + this.#o.nodeId), record, this.#o.ttlMs),
      link.sadd(link.key(NODES_KEY), this.#o.nodeId),
    ]);
    const ids = await link.smembers(link.key(NODES_KEY));
    const reply = ids.length === 0 ? [] : await link.eval(PRESENCE_READ_SCRIPT, ids.map((id) => link.key(NODE_KEY_PREFIX + id)), []);
    const readAt = performance.now();
    const values = Array.isArray(reply) ? reply as unknown[] : [];
    const nodes: PeerRecord[] = [];
    const before = new Map(this.#peers.nodes.map((n) => [n.view.node, n]));
    const expired: string[] = [];
    ids.forEach((id, i) => {
      const raw = values[2 * i];
      const pttl = values[2 * i + 1];
      if (typeof raw !== 'string') return void expired.push(id);
      const n = decodePresence(raw);
      // Its age from its remaining TTL (written with this TTL: cluster.presenceTtlMs is the same on every node).
      const age = typeof pttl === 'number' && pttl >= 0 ? Math.min(this.#o.ttlMs, Math.max(0, this.#o.ttlMs - pttl)) : 0;
      if (n && n.node === id) {
        const writtenAt = readAt - age;
        const last = before.get(id);
        // A record read again (the node has not written since): its previous one stays.
        const prev = !last ? undefined : last.writtenAt < writtenAt - 50 ? { load: last.view.load, writtenAt: last.writtenAt } : last.prev;
        nodes.push({ view: n, writtenAt, prev });
      } else if (this.#warned.size < 100 && !this.#warned.has(id)) {
        this.#warned.add(id);
        this.#o.log.warn({ node: id.slice(0, 64) }, 'cluster: unreadable presence record ignored');
      }
    });
    this.#peers = { nodes, at: performance.now() };
    // A node that comes back adds itself again on its next tick.
    if (expired.length > 0) link.srem(link.key(NODES_KEY), expired).catch(() => undefined);
  }

  /** Rooms this node placed on `node` after `from` and up to `to`. */
  #sentTo(node: string, from: number, to: number): number {
    const times = this.#sent.get(node);
    return times ? firstAfter(times, to, Number) - firstAfter(times, from, Number) : 0;
  }

  /** Keeps this node's load over the last two TTLs (and the sample before), for the estimates. */
  #sample(at: number, load: NodeLoad): void {
    // At most two samples per 5 ms (a burst's placements would otherwise pile up): the newest
    // replaces the last one while that one is within 5 ms of the one before it.
    const h = this.#history;
    if (h.length >= 2 && at - h[h.length - 2]!.at < 5) h.pop();
    h.push({ at, load });
    // Kept for two TTLs (and the sample before), as the rooms sent.
    while (h.length > 1 && h[1]!.at <= at - 2 * this.#o.ttlMs) h.shift();
  }

  /** This node's load at `at`: the last sample taken then or before (the oldest kept if none). */
  #loadAt(at: number): NodeLoad {
    const h = this.#history;
    const after = firstAfter(h, at, (x) => x.at);
    return (h[after - 1] ?? h[0])?.load ?? this.self().load;
  }
}

/** The index of the first of `items` (ascending by `at`) after `t` (items.length when none). */
function firstAfter<T>(items: readonly T[], t: number, at: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(items[mid]!) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
