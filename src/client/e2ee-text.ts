/**
 * Every end-to-end encryption string a person sees (issue #16), in one place for the i18n
 * catalogue (issue #15) to take over. Roles only, never names.
 */
import type { E2eeMode } from './e2ee.ts';

export const E2EE_TEXT = {
  /** The pre-join screen, by the room's mode (link check) and whether this browser can encrypt. */
  prejoin(mode: E2eeMode | undefined, supported: boolean): string {
    if (mode === 'required') {
      return supported
        ? 'This session is end-to-end encrypted: only the people in it can see and hear each other, not the server or its operator.'
        : 'This session must be end-to-end encrypted, and this browser cannot do that. Open the link in a recent Chrome, Edge, Firefox or Safari.';
    }
    if (mode === 'optional') {
      return supported
        ? 'This session will be end-to-end encrypted if everyone\'s browser can do it. The page shows a lock once you are in.'
        : 'This browser cannot do end-to-end encryption. If the session is already encrypted, you will not be able to join: use a recent Chrome, Edge, Firefox or Safari.';
    }
    return 'Video and sound are encrypted on their way to and from the service\'s server. This session is not end-to-end encrypted.';
  },
  /** The join was refused with E2EE_UNSUPPORTED. */
  unsupportedError: 'This session is end-to-end encrypted and this browser cannot take part in it. Open the link in a recent Chrome, Edge, Firefox or Safari.',
  /** The in-call indicator. */
  active: 'End-to-end encrypted',
  inactive: 'Not end-to-end encrypted',
  codeLabel: 'Security code',
  codeHint: 'Read it aloud: everyone in the session should see the same code. If it differs, someone may be listening in: leave and tell the organiser.',
  /** The code changed during the session (it changes whenever someone joins or leaves). */
  codeChanged(change: 'joined' | 'left' | undefined, who: string, code: string): string {
    const why = change === 'joined' ? `because ${who} joined` : change === 'left' ? `because ${who} left` : 'because the people in the session changed';
    return `The security code changed ${why}: it is now ${code}. Compare it again.`;
  },
} as const;
