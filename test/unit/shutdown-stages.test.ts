import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ShutdownStages } from '../../src/shutdown.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

function logged() {
  const lines: any[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb(); } });
  return { log: createLogger('info', stream), lines };
}

describe('ShutdownStages', () => {
  it('reports a stage that finishes in time as not forced, with its duration', async () => {
    const { log } = logged();
    const stages = new ShutdownStages(log);
    await stages.run('quick', 1000, async () => undefined);
    const report = stages.report();
    expect(report.forced).toEqual([]);
    expect(report.stageMs.quick).toBeLessThan(1000);
  });

  it('forces a stage that does not settle by its deadline, runs its cut, and goes on', async () => {
    const { log } = logged();
    const stages = new ShutdownStages(log);
    let cut = false;
    const t0 = performance.now();
    await stages.run('hung', 30, () => new Promise<void>(() => undefined), { onDeadline: () => { cut = true; } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(cut).toBe(true);
    expect(stages.report().forced).toEqual(['hung']);
  });

  it('does not count a late stage as forced when only clients are late', async () => {
    const { log } = logged();
    const stages = new ShutdownStages(log);
    await stages.run('clients', 20, () => new Promise<void>(() => undefined), { deadlineForces: false });
    expect(stages.report().forced).toEqual([]);
  });

  it('counts a stage that throws or says it had to cut something as forced, and logs the failure', async () => {
    const { log, lines } = logged();
    const stages = new ShutdownStages(log);
    await stages.run('throws', 1000, async () => { throw new Error('boom'); });
    await stages.run('cut', 1000, async () => 'forced');
    stages.step('sync', () => { throw new Error('bang'); });
    stages.step('fine', () => undefined);
    expect(stages.report().forced).toEqual(['throws', 'cut', 'sync']);
    expect(lines.filter((l) => l.msg === 'shutdown stage failed').map((l) => l.stage)).toEqual(['throws', 'sync']);
  });
});
