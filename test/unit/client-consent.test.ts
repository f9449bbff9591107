import { describe, expect, it } from 'vitest';
import { changeOf, changeText, withdrawEffects } from '../../src/client/consent-text.ts';

/** Consent during the call and what the pages keep (issue #15 item 9), without a browser. */

const state = (consentWithdrawn: boolean, reconnecting: boolean) => ({ consentWithdrawn, reconnecting });

describe('what another participant\'s page announces', () => {
  it('announces a withdrawal, consent again, a lost connection and its return; nothing else', () => {
    expect(changeOf(state(false, false), state(true, false))).toBe('consent-withdrawn');
    expect(changeOf(state(true, false), state(false, false))).toBe('consent-granted');
    expect(changeOf(state(false, false), state(false, true))).toBe('reconnecting');
    expect(changeOf(state(false, true), state(false, false))).toBe('reconnected');
    expect(changeOf(state(true, true), state(true, true))).toBeUndefined();
    expect(changeOf(state(false, false), state(false, false))).toBeUndefined();
  });

  it('names the role label it is given, never a person', () => {
    expect(changeText('consent-withdrawn', 'Student')).toMatch(/^Student withdrew consent to the session by video\. Their camera and microphone are off/);
    expect(changeText('consent-granted', 'Guardian')).toBe('Guardian gave consent again. Their video and sound are coming back.');
    expect(changeText('reconnecting', 'Student')).toBe('Student\'s connection was lost: reconnecting…');
  });

  it('says before a withdrawal what happens: media for everyone, the clinician told, the record, the way back', () => {
    const all = withdrawEffects().join(' ');
    for (const says of [/stop at once, for everyone/, /clinician is told/, /record keeps that consent was withdrawn/, /give consent again/]) expect(all).toMatch(says);
  });
});
