import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  alarmSoundState,
  notificationContent,
  byUrgency,
  elapsedText,
  nextTier,
  nextTierText,
  raiserAcknowledgedText,
  raiserResolvedText,
  targetsText,
  type PlannedTier,
  type Urgent,
} from '../../src/client/alarm-urgency.ts';

/** The alarm logic of the clinician and desk pages (issue #15), without a browser. */

const T0 = Date.parse('2026-12-02T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const PLAN: PlannedTier[] = [
  { tier: 0, afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
  { tier: 1, afterSeconds: 15, notify: ['webhook:primary'] },
  { tier: 2, afterSeconds: 60, notify: ['webhook:secondary', 'desk'] },
];
const clock = (ms: number) => iso(ms).slice(11, 19);

beforeEach(() => { vi.useFakeTimers({ now: T0 }); });
afterEach(() => { vi.useRealTimers(); });

describe('the alarm sound\'s state', () => {
  it('rings only while an alarm waits for acknowledgement; mute wins; a suspended context is "blocked"', () => {
    expect(alarmSoundState(false, false, true)).toBe('off');
    expect(alarmSoundState(false, true, false)).toBe('off');
    expect(alarmSoundState(true, false, true)).toBe('playing');
    expect(alarmSoundState(true, true, true)).toBe('muted');
    expect(alarmSoundState(true, true, false)).toBe('muted');
    expect(alarmSoundState(true, false, false)).toBe('blocked');
  });
});

describe('the notification', () => {
  it('says the kind, the raiser\'s role and the room, and nothing the alarm does not pass in (no place, contact or name)', () => {
    const c = notificationContent({ id: 'inc-1', kind: 'self-harm', raiserRole: 'Student', room: 'room-7' });
    expect(c).toEqual({ title: 'Alarm: Self-harm risk', body: 'Student in room room-7 needs help. Open the page to respond.', tag: 'sfu-alarm-inc-1' });
    // The type admits nothing else: an alarm with a location handed over anyway does not show it.
    const leaky = { id: 'inc-2', kind: 'medical' as const, raiserRole: 'Student', room: 'r', location: { description: 'Lincoln Elementary' }, emergencyContact: { phone: '+1 555 0100' } };
    expect(JSON.stringify(notificationContent(leaky))).not.toMatch(/Lincoln|555/);
  });
});

describe('the desk\'s order', () => {
  const a = (over: Partial<Urgent> & { name: string }) => ({ kind: 'safety' as const, raisedAt: iso(T0), acknowledged: undefined, closed: false, ...over });
  it('unacknowledged first, then the more severe kind, then the oldest; closed ones last', () => {
    const list = [
      a({ name: 'closed self-harm', kind: 'self-harm', closed: true }),
      a({ name: 'acked self-harm', kind: 'self-harm', acknowledged: { by: 'x' } }),
      a({ name: 'technical, old', kind: 'technical', raisedAt: iso(T0 - 60_000) }),
      a({ name: 'medical, new', kind: 'medical', raisedAt: iso(T0) }),
      a({ name: 'medical, old', kind: 'medical', raisedAt: iso(T0 - 5_000) }),
      a({ name: 'self-harm', kind: 'self-harm', raisedAt: iso(T0) }),
      a({ name: 'acked other, old', kind: 'other', acknowledged: { by: 'y' }, raisedAt: iso(T0 - 90_000) }),
    ];
    expect(list.sort(byUrgency).map((x) => x.name)).toEqual([
      'self-harm', 'medical, old', 'medical, new', 'technical, old', 'acked self-harm', 'acked other, old', 'closed self-harm',
    ]);
  });
});

describe('time since raise and the next tier, as time passes (fake timers)', () => {
  it('elapsed text', () => {
    expect([0, 999, 1000, 59_999, 60_000, 65_000, 3_599_000, 3_600_000, 3_725_000].map(elapsedText))
      .toEqual(['0 s', '0 s', '1 s', '59 s', '1 min 00 s', '1 min 05 s', '59 min 59 s', '1 h 00 min', '1 h 02 min']);
    expect(elapsedText(-5)).toBe('0 s');
  });

  it('counts down to tier 1, then to tier 2, then says the last tier was reached; an acknowledgement stops it', () => {
    const e = { raisedAt: iso(T0), tier: 0, acknowledged: undefined as unknown, closed: false };
    expect(nextTier(e, PLAN)).toEqual({ tier: 1, dueAt: T0 + 15_000, notify: ['webhook:primary'], unconfigured: [] });
    expect(nextTierText(e, PLAN, Date.now(), clock)).toBe('Tier 1 at 10:00:15 (in 15 s): alerts webhook "primary"');
    vi.advanceTimersByTime(4_500);
    expect(nextTierText(e, PLAN, Date.now(), clock)).toBe('Tier 1 at 10:00:15 (in 11 s): alerts webhook "primary"');
    vi.advanceTimersByTime(10_500);
    // Due, and the server has not said it escalated yet.
    expect(nextTierText(e, PLAN, Date.now(), clock)).toBe('Tier 1 due now: alerts webhook "primary"');
    e.tier = 1;
    expect(nextTierText(e, PLAN, Date.now(), clock)).toBe('Tier 2 at 10:01:00 (in 45 s): alerts webhook "secondary", the safety desk');
    vi.advanceTimersByTime(45_000);
    e.tier = 2;
    expect(nextTier(e, PLAN)).toBeUndefined();
    expect(nextTierText(e, PLAN, Date.now(), clock)).toBe('None: the last tier was reached');
    expect(nextTierText({ ...e, tier: 0, acknowledged: { by: 'doc' } }, PLAN, Date.now(), clock)).toBe('None: acknowledged, escalation stopped');
    expect(nextTierText({ ...e, closed: true }, PLAN, Date.now(), clock)).toBe('');
    expect(nextTierText({ ...e, tier: 0 }, undefined, Date.now(), clock)).toBe('Unknown (no escalation plan from the server)');
  });

  it('never promises a target that is not configured', () => {
    const plan: PlannedTier[] = [PLAN[0]!, { ...PLAN[1]!, unconfigured: ['webhook:primary'] }, { ...PLAN[2]!, unconfigured: ['webhook:secondary'] }];
    const e = { raisedAt: iso(T0), tier: 0, acknowledged: undefined as unknown, closed: false };
    expect(nextTierText(e, plan, Date.now(), clock)).toBe('Tier 1 at 10:00:15 (in 15 s): not configured, reaches nobody: webhook "primary"');
    expect(nextTierText({ ...e, tier: 1 }, plan, Date.now(), clock)).toBe('Tier 2 at 10:01:00 (in 1 min 00 s): alerts the safety desk; not configured, reaches nobody: webhook "secondary"');
  });

  it('names the targets in plain words', () => {
    expect(targetsText(['room-clinicians', 'desk', 'webhook:on-call'])).toBe('the room\'s clinicians, the safety desk, webhook "on-call"');
    expect(targetsText([])).toBe('nobody');
  });
});

describe('what the raiser is told', () => {
  it('who has the alarm and since when, then how it ended; a silent alarm gets a discreet word only', () => {
    const doc = { identity: 'clinician-1', role: 'clinician' as const };
    const desk = { identity: 'desk-1', role: 'desk' as const };
    expect(raiserAcknowledgedText(doc, '10:00:07', false)).toBe('Your clinician (clinician-1) has your alarm since 10:00:07 and is responding.');
    expect(raiserAcknowledgedText(desk, '10:00:07', false)).toBe('The safety team (desk-1) has your alarm since 10:00:07 and is responding.');
    expect(raiserAcknowledgedText(desk, '10:00:07', true)).toBe('Seen at 10:00:07.');
    expect(raiserResolvedText(doc, 'emergency-services-contacted', '10:03:00', false)).toBe('Your alarm was closed by your clinician (clinician-1) at 10:03:00: emergency services were contacted.');
    expect(raiserResolvedText(desk, 'false-alarm', '10:03:00', false)).toBe('Your alarm was closed by the safety team (desk-1) at 10:03:00: it was a false alarm.');
    expect(raiserResolvedText(desk, 'continued', '10:03:00', true)).toBe('Closed at 10:03:00.');
  });
});
