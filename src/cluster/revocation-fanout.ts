import { LEARNED_FROM, learnedElsewhere, type RevocationList } from '../auth/revocations.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { RedisLink } from './redis.ts';
import { decodeRevocationMessage, encodeRevocationMessage } from './revocation-message.ts';

/** The channel (after the key prefix) every node publishes its revocations on and listens to. */
export const REVOCATION_CHANNEL = 'revocations';

export interface RevocationFanoutOptions {
  readonly link: Pick<RedisLink, 'publish' | 'subscribe'>;
  readonly revocations: Pick<RevocationList, 'onRevoked' | 'learn'>;
  readonly nodeId: string;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'revocationFanout'>;
}

/**
 * Revocations everywhere within a second: each revocation made on this node is published once it
 * holds here (the publish runs after the local enforcement and nothing waits for it), and each one
 * received from a peer holds here as if made here (the enforcer closes the identity's connections),
 * without a store write: the peer records it. Messages are validated strictly (a malformed one is
 * counted and dropped), this node's own are ignored, and a revocation already known (from the
 * store's read) is not enforced twice. With Redis down a publish fails fast and is not retried: the
 * store's periodic read is the backstop. Returns the stop function.
 */
export function startRevocationFanout(o: RevocationFanoutOptions): () => void {
  o.link.subscribe(REVOCATION_CHANNEL, (raw) => {
    const m = decodeRevocationMessage(raw);
    if (!m.ok) {
      o.metrics.revocationFanout('malformed');
      o.log.warn({ problem: m.problem, bytes: Buffer.byteLength(raw) }, 'malformed revocation message from Redis dropped');
      return;
    }
    if (m.node === o.nodeId) {
      o.metrics.revocationFanout('own');
      return;
    }
    o.metrics.revocationFanout(o.revocations.learn(m.revocation, LEARNED_FROM.peer) ? 'applied' : 'known');
  });
  return o.revocations.onRevoked((r, actor) => {
    if (learnedElsewhere(actor)) return;
    o.link.publish(REVOCATION_CHANNEL, encodeRevocationMessage(r, o.nodeId)).then(
      () => o.metrics.revocationFanout('published'),
      (err: unknown) => {
        o.metrics.revocationFanout('publish_failed');
        o.log.warn({ error: err instanceof Error ? err.message.slice(0, 200) : 'unknown' }, 'revocation not published over Redis; other nodes learn it by the store read');
      },
    );
  });
}
