import type { Store } from '../store/types.ts';
import type { Logger } from '../telemetry/logger.ts';

const DAY_MS = 24 * 3600 * 1000;

/**
 * The retention job: the only thing that deletes records. Once shortly after start and then daily,
 * it deletes sessions (with their consent and location records), expired revocations and audit
 * entries older than `years`, and appends a `retention.applied` audit entry saying what it cut.
 */
export function startRetention(store: Store, years: number, log: Logger, firstRunMs = 60_000): () => void {
  const run = async () => {
    const cutoff = new Date(Date.now() - years * 365.25 * DAY_MS);
    try {
      const res = await store.applyRetention(cutoff, 'retention-job');
      log.info({ cutoff: cutoff.toISOString(), ...res }, 'retention applied');
    } catch (err) {
      log.error({ err }, 'retention job failed');
    }
  };
  const first = setTimeout(() => void run(), firstRunMs).unref();
  const daily = setInterval(() => void run(), DAY_MS).unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}
