import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { describeTargets, unconfiguredTargets, unconfiguredWarning } from '../../src/config/escalation-targets.ts';

const HOOK = { name: 'primary', url: 'https://hooks.example/panic', secret: 'webhook-secret-0123456789' };
const TIERS = [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }, { afterSeconds: 30, notify: ['desk', 'webhook:oncall'] }];

function refusal(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('escalation tiers naming targets nobody configured', () => {
  it('the built-in default tiers load, with each unconfigured target listed for the start-up warning', () => {
    const c = loadConfig({ env: {} });
    const targets = unconfiguredTargets(c.safety);
    expect(targets).toEqual([{ tier: 1, target: 'webhook:primary' }, { tier: 2, target: 'webhook:secondary' }]);
    expect(describeTargets(targets)).toBe('tier 1: webhook:primary; tier 2: webhook:secondary');
    const line = unconfiguredWarning(targets);
    expect(line).not.toContain('\n');
    expect(line).toContain('tier 1: webhook:primary; tier 2: webhook:secondary');
    expect(line).toContain('built-in default tiers');
  });

  it('the default tiers with one of their webhooks configured: only the other is listed', () => {
    const c = loadConfig({ env: { SFU_PANIC_WEBHOOKS: JSON.stringify([HOOK]) } });
    expect(unconfiguredTargets(c.safety)).toEqual([{ tier: 2, target: 'webhook:secondary' }]);
  });

  it('tiers set in SFU_PANIC_TIERS naming a webhook that does not exist: refused, coded, each one named', () => {
    const err = refusal(() => loadConfig({ env: { SFU_PANIC_TIERS: JSON.stringify(TIERS) } }));
    expect(err.code).toBe('ESCALATION_TARGET_UNKNOWN');
    expect(err.message).toMatch(/^invalid configuration \(ESCALATION_TARGET_UNKNOWN\):/);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^safety\.tiers\[1\] notifies webhook:oncall, but safety\.webhooks has no webhook named "oncall"/);
  });

  it('tiers set in the SFU_CONFIG file or by overrides are checked the same way; configured webhooks pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfu-tiers-'));
    try {
      const file = join(dir, 'sfu.json');
      writeFileSync(file, JSON.stringify({ safety: { tiers: TIERS } }));
      expect(refusal(() => loadConfig({ env: {}, file })).code).toBe('ESCALATION_TARGET_UNKNOWN');
      writeFileSync(file, JSON.stringify({ safety: { tiers: TIERS, webhooks: [{ ...HOOK, name: 'oncall' }] } }));
      expect(unconfiguredTargets(loadConfig({ env: {}, file }).safety)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(refusal(() => loadConfig({ env: {}, overrides: { safety: { tiers: TIERS } } })).code).toBe('ESCALATION_TARGET_UNKNOWN');
    // Only live targets: nothing to configure.
    expect(loadConfig({ env: { SFU_PANIC_TIERS: JSON.stringify([{ afterSeconds: 0, notify: ['desk'] }]) } }).safety.tiers).toHaveLength(1);
  });

  it('a file that sets webhooks but keeps the default tiers is not an explicit tier list: warned, not refused', () => {
    const c = loadConfig({ env: {}, overrides: { safety: { webhooks: [{ ...HOOK, name: 'secondary' }] } } });
    expect(unconfiguredTargets(c.safety)).toEqual([{ tier: 1, target: 'webhook:primary' }]);
  });

  it('other configuration errors keep the general code', () => {
    expect(refusal(() => loadConfig({ env: { SFU_HTTP_PORT: 'eighty' } })).code).toBe('CONFIG_INVALID');
  });
});
