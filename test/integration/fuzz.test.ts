import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../bench/fuzz/run.ts';

/**
 * The short signalling fuzz run (issue #11, item 7): about 5,000 random, structured and stateful
 * messages against a real server (bench/fuzz/run.ts; the full run of 100,000 is
 * `node bench/fuzz/run.ts`, see bench/README.md). A failing run prints its seed: replay it with
 * FUZZ_SEED=<seed> (same messages; the interleaving of the agents may differ).
 */
describe('signalling fuzz (short run)', () => {
  it('survives ~5,000 fuzz messages: no crash, no INTERNAL_ERROR, still serving, no room left', async () => {
    const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261201;
    const r = await runFuzz({ messages: 5000, seconds: 20, seed, agents: 12, reconnectGraceSeconds: 1 });
    const show = (v: unknown) => `seed ${r.seed}: ${JSON.stringify(v, null, 1).slice(0, 6000)}`;
    expect(r.messages, show(r.sentBy)).toBeGreaterThanOrEqual(5000);
    expect(r.crashes.total, show(r.crashes)).toBe(0);
    expect(r.internalErrors, show(r.internalErrorSamples)).toBe(0);
    expect(r.serving.healthz).toBe(200);
    expect(r.serving.freshClient, show(r.serving.freshClient)).toMatchObject({ ok: true });
    expect(r.rooms.leftover, show(r.rooms.leftover)).toEqual([]);
    expect(r.rooms, show(r.rooms)).toMatchObject({ registryAfterGrace: 0, admin: 0, adminStatus: 200, registryAtEnd: 0, adminAtEnd: 0 });
    expect(r.prototypePolluted).toBe(false);
    expect(r.methodsNotFuzzed).toEqual([]);
    // Malformed envelopes, unmatched or duplicate responses, hangs, undocumented close codes, unknown fields accepted.
    expect(r.violations, show(r.violationSamples)).toEqual({});
    // Every method was reached with valid data at least once (the fuzz is not all rejected up front).
    for (const m of ['join', 'createTransport', 'connectTransport', 'produce', 'restartIce', 'updateLocation', 'withdrawConsent', 'leave', 'e2eeKeys']) {
      expect(r.responsesByMethod[m]?.ok ?? 0, m).toBeGreaterThan(0);
    }
  }, 90_000);
});
