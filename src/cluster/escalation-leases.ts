import type { EscalationOwnership, LeaseHold } from '../domain/escalation-ownership.ts';
import type { RedisLink } from './redis.ts';

/** Prefix (after the key prefix) of an open incident's escalation lease: `incident-owner:<id>` -> node id. */
export const INCIDENT_OWNER_PREFIX = 'incident-owner:';

/** Takes the lease when nobody holds it, or keeps (renews) it when this node does: 1, else 0 (another node holds it). */
const HOLD_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** Deletes the lease only while this node holds it. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Escalation leases in Redis: `SET PX` by a script that takes a free lease or renews this node's own. */
export class RedisEscalationLeases implements EscalationOwnership {
  readonly #link: Pick<RedisLink, 'key' | 'eval'>;
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly intervalMs: number;

  constructor(o: { link: Pick<RedisLink, 'key' | 'eval'>; nodeId: string; leaseMs: number; intervalMs: number }) {
    this.#link = o.link;
    this.nodeId = o.nodeId;
    this.leaseMs = o.leaseMs;
    this.intervalMs = o.intervalMs;
  }

  async hold(incidentIds: readonly string[]): Promise<LeaseHold | undefined> {
    // One script per incident, sent together on the one connection (pipelined; each key on its own,
    // so that a Redis Cluster's slots never matter); every call has the link's deadline.
    const replies = await Promise.allSettled(incidentIds.map((id) => this.#link.eval(HOLD_SCRIPT, [this.#key(id)], [this.nodeId, this.leaseMs])));
    if (replies.length > 0 && replies.every((r) => r.status === 'rejected')) return undefined;
    const held = new Set<string>();
    const elsewhere = new Set<string>();
    replies.forEach((r, i) => {
      if (r.status === 'fulfilled') (r.value === 1 ? held : elsewhere).add(incidentIds[i]!);
    });
    return { held, elsewhere };
  }

  release(incidentId: string): void {
    this.#link.eval(RELEASE_SCRIPT, [this.#key(incidentId)], [this.nodeId]).catch(() => {
      // Not released: the lease runs out by itself; the incident is resolved in the store, so nobody takes it over.
    });
  }

  #key(id: string): string {
    return this.#link.key(INCIDENT_OWNER_PREFIX + id);
  }
}
