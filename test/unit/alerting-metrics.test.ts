import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { startRevocationSync } from '../../src/safety/revocation-sync.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { until } from '../helpers/until.ts';

/** The metrics deploy/prometheus/rules.yml alerts on that the server adds for it (docs/operations.md, "Metrics"). */
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('metrics behind the alert rules', () => {
  it('sfu_store_writable is the write probe run at scrape time: 1, 0 when it fails or throws', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let probe: () => Promise<boolean> = async () => true;
    m.storeWritableWith(() => probe());
    expect(value(await m.render(), 'sfu_store_writable')).toBe(1);
    probe = async () => { throw new Error('SQLITE_FULL'); };
    expect(value(await m.render(), 'sfu_store_writable')).toBe(0);
    probe = async () => false;
    expect(value(await m.render(), 'sfu_store_writable')).toBe(0);
    probe = async () => true;
    expect(value(await m.render(), 'sfu_store_writable')).toBe(1);
  });

  it('sfu_revocation_syncs_total: both results exist at 0 from the start; each periodic read counts ok or failed', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const text = await m.render();
    expect(value(text, 'sfu_revocation_syncs_total{result="ok"}')).toBe(0);
    expect(value(text, 'sfu_revocation_syncs_total{result="failed"}')).toBe(0);
    let fail = true;
    const stop = startRevocationSync({
      revocations: { refresh: async () => { if (fail) throw new Error('store down'); return []; } },
      seconds: 0.02, log: createLogger('silent'), metrics: m,
    });
    try {
      await until(async () => (value(await m.render(), 'sfu_revocation_syncs_total{result="failed"}') ?? 0) >= 2, 'two failed syncs', 5000);
      expect(value(await m.render(), 'sfu_revocation_syncs_total{result="ok"}')).toBe(0);
      fail = false;
      await until(async () => (value(await m.render(), 'sfu_revocation_syncs_total{result="ok"}') ?? 0) >= 1, 'a sync that succeeds', 5000);
    } finally {
      stop();
    }
  });

  it('sfu_cluster_nodes exists only once the cluster registers it, by state', async () => {
    const m = new Metrics({ defaultMetrics: false });
    expect(await m.render()).not.toContain('sfu_cluster_nodes');
    m.clusterNodesWith(() => ({ live: 2, draining: 1 }));
    const text = await m.render();
    expect(value(text, 'sfu_cluster_nodes{state="live"}')).toBe(2);
    expect(value(text, 'sfu_cluster_nodes{state="draining"}')).toBe(1);
  });
});
