/**
 * The words of consent withdrawal and consent given again (issue #15 item 9), in one place: what
 * the person is told before withdrawing, and what the others' pages announce. Plain words; a role,
 * never a name or a place.
 */

/** What withdrawing consent does, said before the person confirms it (docs/protocol.md "withdrawConsent"). */
export const WITHDRAW_EFFECTS: readonly string[] = [
  'Your camera and microphone stop at once, for everyone in the session, and you stop seeing and hearing the others.',
  'Your clinician is told straight away that you withdrew consent.',
  'The session record keeps that consent was withdrawn, and when.',
  'You stay in the session and Get help still works. To take part again, give consent again with the “Give consent again” button (for a student, a parent or guardian gives it); or leave the session.',
];

/** What giving consent again does (docs/protocol.md "grantConsent"). */
export const GRANT_EFFECTS = 'Your camera and microphone come back on, and you see and hear the others again. Your clinician is told, and the session record keeps the new consent.';

/** A time of day as the person reads it, e.g. 14:05. */
export function clockTime(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export type ParticipantChange = 'consent-withdrawn' | 'consent-granted' | 'reconnecting' | 'reconnected';

/** What another participant's page announces about `who` (their role's label, never a name), e.g. "Student withdrew consent ...". */
export function changeText(change: ParticipantChange, who: string): string {
  switch (change) {
    case 'consent-withdrawn':
      return `${who} withdrew consent to the session by video. Their camera and microphone are off for everyone; the session record keeps the withdrawal.`;
    case 'consent-granted':
      return `${who} gave consent again. Their video and sound are coming back.`;
    case 'reconnecting':
      return `${who}'s connection was lost: reconnecting…`;
    case 'reconnected':
      return `${who} is back: the connection is restored.`;
  }
}

/** The change between two states of one participant worth announcing (consent first), if any. */
export function changeOf(before: { consentWithdrawn: boolean; reconnecting: boolean }, after: { consentWithdrawn: boolean; reconnecting: boolean }): ParticipantChange | undefined {
  if (!before.consentWithdrawn && after.consentWithdrawn) return 'consent-withdrawn';
  if (before.consentWithdrawn && !after.consentWithdrawn) return 'consent-granted';
  if (!before.reconnecting && after.reconnecting) return 'reconnecting';
  if (before.reconnecting && !after.reconnecting) return 'reconnected';
  return undefined;
}
