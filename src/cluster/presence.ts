import type { Logger } from '../telemetry/logger.ts';
import type { RedisLink } from './redis.ts';
import type { NodeLoad, NodeView } from './node-score.ts';
import { decodePresence, encodePresence } from './presence-record.ts';

/** The set of node ids that ever announced themselves (pruned of those whose record expired). */
export const NODES_KEY = 'nodes';
/** Prefix (after the key prefix) of a node's presence record: `node:<id>`. */
export const NODE_KEY_PREFIX = 'node:';

export interface NodePresenceOptions {
  readonly link: Pick<RedisLink, 'key' | 'setPx' | 'sadd' | 'srem' | 'smembers' | 'mget'>;
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
 * rooms here).
 */
export class NodePresence {
  readonly #o: NodePresenceOptions;
  #peers: { readonly nodes: readonly NodeView[]; readonly at: number } = { nodes: [], at: 0 };
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

  /** Every live node: the others as last read (within one TTL), this one as it is now. */
  view(): NodeView[] {
    const fresh = performance.now() - this.#peers.at <= this.#o.ttlMs;
    const others = fresh ? this.#peers.nodes.filter((n) => n.node !== this.#o.nodeId) : [];
    return [this.self(), ...others];
  }

  /** Writes this node's record, then reads everyone's. Rejects when Redis fails (the previous view ages out). */
  async tick(): Promise<void> {
    const { link } = this.#o;
    const record = encodePresence(this.self());
    await Promise.all([
      link.setPx(link.key(NODE_KEY_PREFIX + this.#o.nodeId), record, this.#o.ttlMs),
      link.sadd(link.key(NODES_KEY), this.#o.nodeId),
    ]);
    const ids = await link.smembers(link.key(NODES_KEY));
    const values = await link.mget(ids.map((id) => link.key(NODE_KEY_PREFIX + id)));
    const nodes: NodeView[] = [];
    const expired: string[] = [];
    values.forEach((raw, i) => {
      if (raw === null) return void expired.push(ids[i]!);
      const n = decodePresence(raw);
      if (n && n.node === ids[i]) nodes.push(n);
      else if (this.#warned.size < 100 && !this.#warned.has(ids[i]!)) {
        this.#warned.add(ids[i]!);
        this.#o.log.warn({ node: ids[i]!.slice(0, 64) }, 'cluster: unreadable presence record ignored');
      }
    });
    this.#peers = { nodes, at: performance.now() };
    // A node that comes back adds itself again on its next tick.
    if (expired.length > 0) link.srem(link.key(NODES_KEY), expired).catch(() => undefined);
  }
}
