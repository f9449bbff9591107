import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The benchmark harness works and its numbers are sane (never timing thresholds). */
describe('npm run bench:quick', () => {
  it('prints one JSON line with the media figures', () => {
    const r = spawnSync(process.execPath, ['bench/run.ts', '--quick'], { cwd: join(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out).toMatchObject({ bench: 'media', quick: true, machine: { mediasoup: '3.12.16' } });
    expect(out.results.length).toBeGreaterThanOrEqual(4);
    for (const res of out.results) {
      expect(res.forwardedPps).toBeGreaterThan(0);
      expect(res.usPerPacket).toBeGreaterThan(0);
      expect(res.loss).toBeLessThan(0.05);
    }
    expect(out.efficiency).toBeGreaterThan(0);
    expect(out.srtpEfficiency).toBeGreaterThan(0);
  }, 150_000);
});
