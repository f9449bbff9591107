import { describe, expect, it } from 'vitest';
import { IncidentBook } from '../../src/client/incident-book.ts';
import type { Alert } from '../../src/client/panic-protocol.ts';

/**
 * The responders' pages keep one entry per incident (src/client/incident-book.ts): the server sends
 * an incident again as a replay on every (re)connection, and a tier's own alert besides
 * (docs/safety.md), so the pages merge by incident id.
 */

const incident = (id: string, over: Partial<Alert['incident']> = {}): Alert['incident'] => ({
  id, room: 'room-1', participantId: `p-${id}`, identity: 'kid', role: 'student', kind: 'medical', silent: false,
  clientIncidentId: `c-${id}`, raisedAt: '2026-12-02T10:00:00.000Z', state: 'open', tier: 0, reRaises: 0, ...over,
} as Alert['incident']);

const alert = (id: string, tier: number, over: Partial<Alert> = {}, inc: Partial<Alert['incident']> = {}): Alert => ({
  incident: incident(id, { tier, ...inc }), participant: { participantId: `p-${id}`, identity: 'kid', role: 'student' },
  location: null, emergencyContact: null, tier, ...over,
} as Alert);

describe('the incident book', () => {
  it('merges a replay, a tier\'s alert and the replay of a reconnection into one entry (added once), logging each with its replay flag', () => {
    const book = new IncidentBook();
    const added: string[] = [];
    let changed = 0;
    book.events.on('added', (e) => added.push(e.id));
    book.events.on('changed', () => { changed++; });
    book.alert(alert('a', 0, { replay: true }));
    book.alert(alert('b', 0, { replay: true }, { acknowledgedBy: 'desk-1', acknowledgedAt: '2026-12-02T10:00:02.000Z' }));
    book.alert(alert('a', 1)); // the tier-1 escalation while connected
    book.alert(alert('a', 0, { replay: true })); // a late replay with the older tier
    book.alert(alert('a', 1, { replay: true })); // after a reconnection
    book.alert(alert('b', 0, { replay: true }));
    expect(added).toEqual(['a', 'b']);
    expect(book.all().map((e) => [e.id, e.tier, e.acknowledged?.by.identity])).toEqual([['a', 1, undefined], ['b', 0, 'desk-1']]);
    expect(changed).toBe(1); // only the tier going up
    expect(book.log.map((l) => [l.incidentId, l.tier, l.replay ?? false])).toEqual([
      ['a', 0, true], ['b', 0, true], ['a', 1, false], ['a', 0, true], ['a', 1, true], ['b', 0, true],
    ]);
  });
});
