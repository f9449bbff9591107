import { describe, expect, it } from 'vitest';
import { escalationText } from '../../src/client/escalation-text.ts';

describe('the pages\' escalation line (src/client/escalation-text.ts)', () => {
  it('never says "escalated" when the tier reached nobody', () => {
    expect(escalationText(1, [{ target: 'webhook:primary', status: 'not-configured' }])).toBe('escalation tier 1: no target configured');
    expect(escalationText(2, [{ target: 'webhook:a', status: 'not-configured' }, { target: 'desk', status: 'no-connection', connections: 0 }]))
      .toBe('escalation tier 2: reached nobody (webhook:a not configured, desk not connected)');
    expect(escalationText(1, [{ target: 'desk', status: 'failed' }])).toBe('escalation tier 1: reached nobody (desk failed)');
  });

  it('names what was reached and what is being sent', () => {
    expect(escalationText(1, [{ target: 'desk', status: 'reached', connections: 2 }, { target: 'webhook:primary', status: 'sending' }, { target: 'webhook:x', status: 'not-configured' }]))
      .toBe('escalated (tier 1): desk reached (2), webhook:primary sending, webhook:x not configured');
  });

  it('not known (a replay after a restart): the tier, and no claim that anyone was reached', () => {
    expect(escalationText(1, undefined)).toBe('escalation tier 1 (whom it reached is not known here)');
  });
});
