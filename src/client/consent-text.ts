import { dateFormat, t } from './i18n/language.ts';

/**
 * The words of consent withdrawal and consent given again (issue #15 item 9), in one place: what
 * the person is told before withdrawing, and what the others' pages announce (the words are in the
 * catalogues, i18n/). Plain words; a role, never a name or a place.
 */

/** What withdrawing consent does, said before the person confirms it (docs/protocol.md "withdrawConsent"). */
export function withdrawEffects(): string[] {
  return [t('consent.effect1'), t('consent.effect2'), t('consent.effect3'), t('consent.effect4')];
}

/** A time of day as the person reads it, e.g. 14:05. */
export function clockTime(at: number): string {
  return dateFormat({ hour: '2-digit', minute: '2-digit' }).format(new Date(at));
}

export type ParticipantChange = 'consent-withdrawn' | 'consent-granted' | 'reconnecting' | 'reconnected';

/** What another participant's page announces about `who` (their role's label, never a name), e.g. "Student withdrew consent ...". */
export function changeText(change: ParticipantChange, who: string): string {
  return t(`change.${change}`, { who });
}

/** The change between two states of one participant worth announcing (consent first), if any. */
export function changeOf(before: { consentWithdrawn: boolean; reconnecting: boolean }, after: { consentWithdrawn: boolean; reconnecting: boolean }): ParticipantChange | undefined {
  if (!before.consentWithdrawn && after.consentWithdrawn) return 'consent-withdrawn';
  if (before.consentWithdrawn && !after.consentWithdrawn) return 'consent-granted';
  if (!before.reconnecting && after.reconnecting) return 'reconnecting';
  if (before.reconnecting && !after.reconnecting) return 'reconnected';
  return undefined;
}
