import { describe, expect, it } from 'vitest';
import { changeOf, changeText, WITHDRAW_EFFECTS } from '../../src/client/consent-text.ts';
import { IncidentBook } from '../../src/client/incident-book.ts';
import type { Alert } from '../../src/client/panic-protocol.ts';

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

  it('names a role, never a person', () => {
    expect(changeText('consent-withdrawn', 'student')).toMatch(/^Student withdrew consent to the session by video\. Their camera and microphone are off/);
    expect(changeText('consent-granted', 'guardian')).toBe('Guardian gave consent again. Their video and sound are coming back.');
    expect(changeText('reconnecting', 'student')).toBe('Student\'s connection was lost: reconnecting…');
  });

  it('says before a withdrawal what happens: media for everyone, the clinician told, the record, the way back', () => {
    const all = WITHDRAW_EFFECTS.join(' ');
    for (const says of [/stop at once, for everyone/, /clinician is told/, /record keeps that consent was withdrawn/, /give consent again/]) expect(all).toMatch(says);
  });
});

describe('alarms once the call ended', () => {
  const alert = (id: string): Alert => ({
    incident: {
      id, room: 'r', participantId: 'p', identity: 'kid', role: 'student', kind: 'safety', silent: false,
      clientIncidentId: `c-${id}`, raisedAt: '2026-12-02T10:00:00.000Z', state: 'open', tier: 0,
    },
    participant: { participantId: 'p', identity: 'kid', role: 'student' },
    location: { description: 'Oak Street Library', region: 'US-OR', source: 'self-reported', capturedAt: '2026-12-02T09:59:00.000Z' },
    emergencyContact: { name: 'Robin Example', phone: '+1 555 0199' },
    tier: 0,
  });

  it('drops ended alarms with their location and contact, and keeps open ones', () => {
    const book = new IncidentBook();
    const forgotten: string[][] = [];
    book.events.on('forgotten', (ids) => forgotten.push(ids));
    book.alert(alert('open-1'));
    book.alert(alert('done-1'));
    book.resolved({ incidentId: 'done-1', by: { identity: 'doc', role: 'clinician' }, outcome: 'false-alarm', at: '2026-12-02T10:01:00.000Z' });
    book.forgetEnded();
    expect(forgotten).toEqual([['done-1']]);
    expect(book.all().map((e) => e.id)).toEqual(['open-1']);
    expect(JSON.stringify(book.all())).toContain('Oak Street Library');
    book.forgetEnded();
    expect(forgotten).toHaveLength(1);
  });
});
