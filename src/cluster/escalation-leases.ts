import type { EscalationOwnership, LeaseHold, RegisteredIncident } from '../domain/escalation-ownership.ts';
import type { RedisLink } from './redis.ts';

/** Prefix (after the key prefix) of an open incident's escalation lease: `incident-owner:<id>` -> node id. */
export const INCIDENT_OWNER_PREFIX = 'incident-owner:';

/** The registry of open incidents (after the key prefix): a sorted set, incident id scored by raisedAt (epoch ms). */
export const OPEN_INCIDENTS_KEY = 'open-incidents';

/** Takes the lease when nobody holds it (2), or keeps (renews) it when this node does (1); else 0 (another node holds it). */
const HOLD_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if v == false then return 2 end
  return 1
end
return 0`;

/** Deletes the lease only while this node holds it. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type Link = Pick<RedisLink, 'key' | 'eval' | 'mget' | 'zaddNx' | 'zrem' | 'zrangeUpTo'>;

/**
 * Escalation leases in Redis: `SET PX` by a script that takes a free lease or renews this node's
 * own; and the registry of open incidents, so that a node learns which incidents nobody owns with
 * one read of the registry and one MGET of their leases, whatever the number of incidents others own.
 */
export class RedisEscalationLeases implements EscalationOwnership {
  readonly #link: Link;
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly intervalMs: number;

  constructor(o: { link: Link; nodeId: string; leaseMs: number; intervalMs: number }) {
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
    const taken = new Set<string>();
    const elsewhere = new Set<string>();
    replies.forEach((r, i) => {
      if (r.status !== 'fulfilled') return;
      const id = incidentIds[i]!;
      if (r.value === 0) return void elsewhere.add(id);
      held.add(id);
      if (r.value === 2) taken.add(id);
    });
    return { held, taken, elsewhere };
  }

  async register(incidents: readonly RegisteredIncident[]): Promise<boolean> {
    try {
      await this.#link.zaddNx(this.#registry(), incidents.map((i) => [Date.parse(i.raisedAt), i.id] as const));
      return true;
    } catch {
      return false;
    }
  }

  async registered(raisedBefore: number): Promise<string[] | undefined> {
    try {
      return await this.#link.zrangeUpTo(this.#registry(), raisedBefore);
    } catch {
      return undefined;
    }
  }

  async unleased(incidentIds: readonly string[]): Promise<string[] | undefined> {
    if (incidentIds.length === 0) return [];
    try {
      // One MGET of the leases (like the presence read, every key in one call).
      const owners = await this.#link.mget(incidentIds.map((id) => this.#key(id)));
      return incidentIds.filter((_, i) => owners[i] === null);
    } catch {
      return undefined;
    }
  }

  release(incidentId: string): void {
    this.#link.eval(RELEASE_SCRIPT, [this.#key(incidentId)], [this.nodeId]).catch(() => {
      // Not released: the lease runs out by itself; the incident is resolved in the store, so nobody takes it over.
    });
  }

  closed(incidentId: string): void {
    // Out of the registry first (the same connection keeps the order): a node that still finds it
    // there with no lease takes the lease, reads the incident resolved and removes it again.
    this.#link.zrem(this.#registry(), [incidentId]).catch(() => undefined);
    this.release(incidentId);
  }

  #key(id: string): string {
    return this.#link.key(INCIDENT_OWNER_PREFIX + id);
  }

  #registry(): string {
    return this.#link.key(OPEN_INCIDENTS_KEY);
  }
}
