import { describe, expect, it } from 'vitest';
import { planAfterDrop } from '../../src/client/drop-plan.ts';

/**
 * notificationsDropped (docs/protocol.md "Notifications"): what the browser client does when the
 * notifications queued while it was away end early (src/client/drop-plan.ts, notifications-dropped.ts).
 */
describe('the browser client on notificationsDropped', () => {
  const present = ['me', 'clinician', 'guardian'];

  it('rebuilds its consumers when it has a recv transport, or one an earlier drop left half replaced', () => {
    expect(planAfterDrop({ present, self: 'me', recv: 'open', encrypted: false }).rebuildRecv).toBe(true);
    expect(planAfterDrop({ present, self: 'me', recv: 'replacing', encrypted: false }).rebuildRecv).toBe(true);
  });

  it('leaves consumers alone without a recv transport (none allowed, consent withdrawn, or one being made: it gets the room as it is now)', () => {
    expect(planAfterDrop({ present, self: 'me', recv: 'none', encrypted: false }).rebuildRecv).toBe(false);
  });

  it('sends its current sender key again to every other participant of the join response, in an encrypted room only', () => {
    expect(planAfterDrop({ present, self: 'me', recv: 'open', encrypted: true }).keysTo).toEqual(['clinician', 'guardian']);
    expect(planAfterDrop({ present, self: 'me', recv: 'open', encrypted: false }).keysTo).toEqual([]);
    expect(planAfterDrop({ present: ['me'], self: 'me', recv: 'none', encrypted: true }).keysTo).toEqual([]);
  });
});
