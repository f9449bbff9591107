import type { RevocationList } from '../auth/revocations.ts';
import type { Config } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { describeRedisUrl, RedisLink, resolveNodeId, type RedisState } from './redis.ts';
import { startRevocationFanout } from './revocation-fanout.ts';

/** This node as one of several (docs/scaling.md): its Redis link and what runs over it. */
export interface ClusterNode {
  readonly nodeId: string;
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
  readonly revocations: RevocationList;
  readonly log: Logger;
  readonly metrics: Metrics;
}): ClusterNode | undefined {
  const c = o.config;
  if (!c.redisUrl) return undefined;
  const nodeId = resolveNodeId(c.nodeId);
  o.metrics.clusterEnabled();
  o.metrics.redisLiveness(false);
  const link = new RedisLink({
    url: c.redisUrl, nodeId, callTimeoutMs: c.redisCallTimeoutMs, connectTimeoutMs: c.redisConnectTimeoutMs,
    probeIntervalMs: c.redisProbeIntervalMs, keyPrefix: c.redisKeyPrefix, log: o.log,
    onLiveness: (up) => o.metrics.redisLiveness(up),
  });
  const stopFanout = startRevocationFanout({ link, revocations: o.revocations, nodeId, log: o.log, metrics: o.metrics });
  const redis = describeRedisUrl(c.redisUrl);
  return {
    nodeId,
    readiness: () => ({ ...link.state, node: nodeId, redis }),
    close() {
      stopFanout();
      link.close();
    },
  };
}
