import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { PersistentRevocationList } from './persistent-revocations.ts';

/**
 * Nodes sharing a store: every `seconds`, re-reads the revocations. Each one made elsewhere reaches
 * the list's listeners (app.ts enforces it: src/safety/revocation-enforcer.ts) as it is learned.
 * A store that does not answer is retried on the next tick; each read counts in
 * `sfu_revocation_syncs_total{result}` (`ok`, `failed`). Returns the stop function.
 */
export function startRevocationSync(opts: {
  revocations: Pick<PersistentRevocationList, 'refresh'>; seconds: number; log: Logger; metrics: Pick<Metrics, 'revocationSync'>;
}): () => void {
  if (opts.seconds <= 0) return () => undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    opts.revocations.refresh()
      .then(() => opts.metrics.revocationSync('ok'), (err: unknown) => {
        opts.metrics.revocationSync('failed');
        opts.log.warn({ err }, 'revocation sync failed; retrying');
      })
      .finally(() => { busy = false; });
  }, opts.seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
