import type { RevocationList } from '../auth/revocations.ts';
import type { Config } from '../config/load.ts';
import type { WorkerPool } from '../media/worker-pool.ts';
import type { RoomRegistry } from '../room/registry.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { describeRedisUrl, RedisLink, resolveNodeId, type RedisState } from './redis.ts';
import { startRevocationFanout } from './revocation-fanout.ts';
import { NodePresence } from './presence.ts';
import { RedisPlacement } from './placement.ts';
import type { RoomPlacement } from './room-placement.ts';
import type { NodeLoad } from './node-score.ts';
import { CommandRelay } from './command-relay.ts';
import { RedisEscalationLeases } from './escalation-leases.ts';
import type { EscalationOwnership } from '../domain/escalation-ownership.ts';
import { RedisRoster } from './redis-roster.ts';
import type { SessionRoster } from './session-roster.ts';

/** This node as one of several (docs/scaling.md): its Redis link and what runs over it. */
export interface ClusterNode {
  readonly nodeId: string;
  /** Where rooms go (docs/scaling.md, "Placement"). */
  readonly placement: RoomPlacement;
  /** Panic commands (ack, cancel, resolve) to the node holding the incident (docs/scaling.md, "Alarms on every node"). */
  readonly commands: CommandRelay;
  /** Escalation leases of open incidents (docs/scaling.md, "Escalation owned once"). */
  readonly escalation: EscalationOwnership;
  /** The sessions of every node, so that those of a lost node can be restored here (docs/scaling.md, "Node loss"). */
  readonly roster: SessionRoster;
  /** The Redis view for /readyz's details: it never makes the node unready (docs/operations.md). */
  readiness(): RedisState & { readonly node: string; readonly redis: string };
  /** Stops the fan-out and drops the Redis connections (synchronous: nothing in flight needs to finish). */
  close(): void;
}

/**
 * Joins the cluster when `cluster.redisUrl` is set; undefined (a single node, nothing started) when
 * it is empty. Call it after the revocation enforcer is registered, so that a revocation is
 * enforced here before it is published.
 */
export function startCluster(o: {
  readonly config: Config['cluster'];
  /** signalling.reconnectGraceSeconds in ms: how long a session whose node was lost can still be restored (plus the time to notice the loss). */
  readonly reconnectGraceMs: number;
  readonly revocations: RevocationList;
  readonly rooms: RoomRegistry;
  readonly pool: Pick<WorkerPool, 'cpuLoad' | 'size'>;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Redis answers again after it was down (not at the first connection): what was broadcast meanwhile was lost. */
  readonly onRedisBack?: () => void;
}): ClusterNode | undefined {
  const c = o.config;
  if (!c.redisUrl) return undefined;
  const nodeId = resolveNodeId(c.nodeId);
  let onUp: () => void = () => undefined;
  let wasUp = false;
  o.metrics.clusterEnabled();
  o.metrics.redisLiveness(false);
  const link = new RedisLink({
    url: c.redisUrl, nodeId, callTimeoutMs: c.redisCallTimeoutMs, connectTimeoutMs: c.redisConnectTimeoutMs,
    probeIntervalMs: c.redisProbeIntervalMs, keyPrefix: c.redisKeyPrefix, log: o.log,
    onLiveness: (up) => {
      o.metrics.redisLiveness(up);
      // Presence (and the leases) are written as soon as Redis answers, not an interval later: a
      // node that hosts rooms without a presence record looks dead to the others, who would take
      // its rooms over.
      if (up) onUp();
      if (up && wasUp) o.onRedisBack?.();
      if (up) wasUp = true;
    },
  });
  const stopFanout = startRevocationFanout({ link, revocations: o.revocations, nodeId, log: o.log, metrics: o.metrics });
  o.metrics.placementEnabled();
  const presence = new NodePresence({
    link, nodeId, publicUrl: c.publicUrl.replace(/\/$/, ''), ttlMs: c.presenceTtlMs, log: o.log,
    self: () => ({ draining: o.rooms.draining, load: nodeLoad(o.rooms, o.pool) }),
  });
  o.metrics.clusterNodesWith(() => presence.counts());
  const commands = new CommandRelay({ link, nodeId, log: o.log });
  o.metrics.escalationOwnershipEnabled();
  const escalation = new RedisEscalationLeases({ link, nodeId, leaseMs: c.escalationLeaseMs, intervalMs: c.presenceIntervalMs });
  const placement = new RedisPlacement({ link, presence, rooms: o.rooms, nodeId, leaseMs: c.placementLeaseMs, log: o.log, metrics: o.metrics });
  o.metrics.rosterEnabled();
  // A session can be restored while its node's death is being noticed (presence TTL, one tick) and then for the grace period.
  const windowMs = o.reconnectGraceMs + c.presenceTtlMs + 2 * c.presenceIntervalMs;
  const roster = new RedisRoster({ link, rooms: o.rooms, nodeId, windowMs, log: o.log, metrics: o.metrics });
  // One tick at a time: a tick still waiting on a hung Redis (each call bounded) is not overlapped.
  let ticking = false;
  const tick = async () => {
    if (ticking) return;
    ticking = true;
    try {
      await Promise.all([presence.tick().catch(() => undefined), placement.renewLeases(), roster.tick()]);
    } finally {
      ticking = false;
    }
  };
  onUp = () => void tick();
  void tick();
  const timer = setInterval(() => void tick(), c.presenceIntervalMs);
  timer.unref();
  const redis = describeRedisUrl(c.redisUrl);
  return {
    nodeId,
    placement,
    commands,
    escalation,
    roster,
    readiness: () => ({ ...link.state, node: nodeId, redis }),
    close() {
      clearInterval(timer);
      placement.stop();
      roster.stop();
      stopFanout();
      link.close();
    },
  };
}

/** What this node reports as its load: worker CPU (the pool's last polls), consumers, rooms, workers. */
function nodeLoad(rooms: RoomRegistry, pool: Pick<WorkerPool, 'cpuLoad' | 'size'>): NodeLoad {
  let consumers = 0;
  const open = rooms.rooms;
  for (const room of open) for (const p of room.participants) consumers += p.consumers.size;
  return { cpu: pool.cpuLoad, consumers, rooms: open.length, workers: pool.size };
}
