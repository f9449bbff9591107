import type { Logger } from '../telemetry/logger.ts';
import type { RedisLink } from './redis.ts';
import { estimateLoad, type NodeLoad, type NodeView } from './node-score.ts';
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
  /** This node's load over the last TTL (oldest first), sampled at every view and tick: its load when a record was written. */
  readonly #history: { readonly at: number; readonly load: NodeLoad }[] = [];
  /** Rooms this node placed on other nodes over the last TTL (oldest first). */
  readonly #sent: { readonly at: number; readonly node: string }[] = [];
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
    return [self, ...others.map(({ view, writtenAt }) => {
      let sent = 0;
      for (const s of this.#sent) if (s.at > writtenAt && s.node === view.node) sent++;
      return { ...view, load: estimateLoad(view.load, this.#loadAt(writtenAt), self.load, sent) };
    })];
  }

  /** Placement placed a new room on `node` (another node): counted in that node's estimate until its next record. */
  placedOn(node: string): void {
    const now = performance.now();
    this.#sent.push({ at: now, node });
    while (this.#sent.length > 0 && this.#sent[0]!.at < now - this.#o.ttlMs) this.#sent.shift();
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
    const expired: string[] = [];
    ids.forEach((id, i) => {
      const raw = values[2 * i];
      const pttl = values[2 * i + 1];
      if (typeof raw !== 'string') return void expired.push(id);
      const n = decodePresence(raw);
      // Its age from its remaining TTL (written with this TTL: cluster.presenceTtlMs is the same on every node).
      const age = typeof pttl === 'number' && pttl >= 0 ? Math.min(this.#o.ttlMs, Math.max(0, this.#o.ttlMs - pttl)) : 0;
      if (n && n.node === id) nodes.push({ view: n, writtenAt: readAt - age });
      else if (this.#warned.size < 100 && !this.#warned.has(id)) {
        this.#warned.add(id);
        this.#o.log.warn({ node: id.slice(0, 64) }, 'cluster: unreadable presence record ignored');
      }
    });
    this.#peers = { nodes, at: performance.now() };
    // A node that comes back adds itself again on its next tick.
    if (expired.length > 0) link.srem(link.key(NODES_KEY), expired).catch(() => undefined);
  }

  /** Keeps this node's load over the last TTL (and the sample before it), for the estimates. */
  #sample(at: number, load: NodeLoad): void {
    // Samples within a few ms of each other are one (a burst's placements would otherwise pile up).
    if (this.#history.length > 1 && this.#history.at(-1)!.at > at - 5) this.#history.pop();
    this.#history.push({ at, load });
    while (this.#history.length > 1 && this.#history[1]!.at <= at - this.#o.ttlMs) this.#history.shift();
  }

  /** This node's load at `at`: the last sample taken then or before (the oldest kept if none). */
  #loadAt(at: number): NodeLoad {
    for (let i = this.#history.length - 1; i >= 0; i--) if (this.#history[i]!.at <= at) return this.#history[i]!.load;
    return this.#history[0]?.load ?? this.self().load;
  }
}
