/**
 * What the browser client does on notificationsDropped (notifications-dropped.ts does it): pure,
 * no DOM, unit-tested (test/unit/client-notifications-dropped.test.ts).
 */

/** Our recv transport at the time: none (or still being made: it is the room now), open, or being replaced by an earlier drop. */
export type RecvState = 'none' | 'open' | 'replacing';

export interface DropPlan {
  /** Close the recv transport and make a new one. */
  readonly rebuildRecv: boolean;
  /** Who gets our current sender key again (none when the room is not encrypted). */
  readonly keysTo: readonly string[];
}

/** What to do on notificationsDropped, from what we know and what the join response says. */
export function planAfterDrop(v: { present: readonly string[]; self: string; recv: RecvState; encrypted: boolean }): DropPlan {
  return {
    rebuildRecv: v.recv !== 'none',
    keysTo: v.encrypted ? v.present.filter((id) => id !== v.self) : [],
  };
}
