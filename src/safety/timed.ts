import type { Metrics } from '../telemetry/metrics.ts';
import { SfuError } from '../shared/errors.ts';

/** Runs a durable write, records its duration, and turns a store failure into STORE_UNAVAILABLE. */
export async function durableWrite<T>(metrics: Metrics, op: string, write: () => Promise<T>, failure = 'the record could not be stored; nothing was changed'): Promise<T> {
  const started = performance.now();
  try {
    return await write();
  } catch (err) {
    throw Object.assign(new SfuError('STORE_UNAVAILABLE', failure), { cause: err });
  } finally {
    metrics.recordStoreWrite(op, (performance.now() - started) / 1000);
  }
}
