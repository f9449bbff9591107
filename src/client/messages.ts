import type { Role } from '../domain/roles.ts';
import type { Quality } from './quality.ts';
import { E2EE_TEXT } from './e2ee-text.ts';

/** What a person sees for a role: tiles are labelled by role, never by name. */
export const ROLE_LABELS: Record<Role, string> = {
  clinician: 'Clinician',
  student: 'Student',
  guardian: 'Guardian',
  observer: 'Observer',
  interpreter: 'Interpreter',
};

export function roleLabel(role: string | undefined): string {
  return (role && ROLE_LABELS[role as Role]) || 'Participant';
}

/** Plain-language text for the error codes a person can meet (server codes: docs/errors.md). */
const ERROR_TEXT: Record<string, string> = {
  TOKEN_MISSING: 'No session link was given. Open the link you were sent.',
  TOKEN_INVALID: 'This session link is not valid. Ask for a new link.',
  TOKEN_EXPIRED: 'This session link has expired. Ask for a new link.',
  TOKEN_NOT_YET_VALID: 'This session link is not valid yet. Check your device\'s clock, or try again at the session time.',
  TOKEN_ALGORITHM_NOT_ALLOWED: 'This session link was issued incorrectly. Ask for a new link.',
  TOKEN_CLAIMS_INVALID: 'This session link was issued incorrectly. Ask for a new link.',
  WRONG_ROOM: 'This session link is for a different session.',
  IDENTITY_REVOKED: 'You have been removed from this session.',
  DUPLICATE_IDENTITY: 'This link is already in use in another window or device. Close it there, or wait half a minute and join again.',
  RESUME_TOKEN_INVALID: 'The session could not be resumed. Join again.',
  ROOM_FULL: 'This session is full.',
  SERVER_DRAINING: 'The server is restarting for maintenance. Join again in a moment.',
  ROOM_CLOSED: 'The session has ended.',
  KICKED: 'You have been removed from this session.',
  SESSION_REPLACED: 'This session was opened in another window or device.',
  PERMISSION_DENIED: 'Your link does not allow this.',
  CONSENT_REQUIRED: 'Consent to the session is needed to join.',
  LOCATION_REQUIRED: 'Say where you are right now to join.',
  INVALID_CONSENT: 'The consent details were not accepted.',
  INVALID_LOCATION: 'The location details were not accepted.',
  CONSENT_VERSION_OUTDATED: 'The consent terms on your link are out of date. Ask the session organiser for a new link.',
  CONSENT_WITHDRAWN: 'Consent to the session by video was withdrawn.',
  MEDIA_ERROR: 'The media server had a problem. Join again; if it keeps happening, tell the session organiser.',
  INTERNAL_ERROR: 'The server had a problem. Join again; if it keeps happening, tell the session organiser.',
  CONNECTION_FAILED: 'Could not connect to the session. Check your network and join again.',
  SERVER_UNREACHABLE: 'The server cannot be reached. Check your network and join again.',
  CONNECTION_LOST: 'The connection was lost. Check your network and join again.',
  REQUEST_TIMEOUT: 'The server did not answer in time. Join again.',
  ROOM_ELSEWHERE: 'The session is on another server that could not be reached. Join again.',
  TOO_MANY_REDIRECTS: 'The session kept moving between servers. Join again in a moment.',
  UNSUPPORTED_BROWSER: 'This browser cannot take part in video sessions. Use a recent Chrome, Edge, Firefox or Safari.',
  MEDIA_DEVICE_ERROR: 'Your camera or microphone could not be used.',
  E2EE_UNSUPPORTED: E2EE_TEXT.unsupportedError,
};

const ROOM_CLOSED_TEXT: Record<string, string> = {
  ADMIN_CLOSED: 'The session was ended by its organiser.',
  WORKER_DIED: 'The session ended because of a server fault. Join again.',
  SERVER_DRAINING: 'The server is restarting for maintenance. Join again in a moment.',
  SERVER_SHUTDOWN: 'The server shut down. Join again in a moment.',
};

/** Form labels for the fields the server names in INVALID_CONSENT / INVALID_LOCATION messages. */
const FIELD_LABELS: Record<string, string> = {
  'location.description': 'Place',
  'location.region': 'State or region',
  'location.emergencyContact': 'Emergency contact',
  'location.emergencyContact.name': 'Emergency contact: their name',
  'location.emergencyContact.phone': 'Emergency contact: their phone number',
  'consent.grantedBy.relation': 'Who is agreeing',
  'consent.grantedBy.name': 'Name of the person agreeing',
  'consent.scopes': 'Consent',
};

export function errorText(code: string, detail?: string): string {
  if (code === 'ROOM_CLOSED' && detail && ROOM_CLOSED_TEXT[detail]) return ROOM_CLOSED_TEXT[detail];
  if ((code === 'INVALID_CONSENT' || code === 'INVALID_LOCATION') && detail) {
    // The server names the field first ("location.region: must match ..."): point at the form's label.
    const m = /^([\w.]+): (.*)$/.exec(detail);
    const label = m ? FIELD_LABELS[m[1]!] : undefined;
    return `${ERROR_TEXT[code]} Check “${label ?? m?.[1] ?? 'the form'}”: ${m?.[2] ?? detail}.`;
  }
  return ERROR_TEXT[code] ?? `Something went wrong (${code}). Join again; if it keeps happening, tell the session organiser.`;
}

/** What a person is told when media cannot connect (media-health.ts codes), and what to try. */
const MEDIA_PROBLEM_TEXT: Record<string, { say: string; tips: readonly string[] }> = {
  MEDIA_ICE_FAILED: {
    say: 'Your video and sound cannot get through. The network you are on may be blocking video calls.',
    tips: ['Try another network, such as home Wi-Fi or a phone hotspot.', 'If a VPN is on, turn it off.'],
  },
  MEDIA_DTLS_FAILED: {
    say: 'Your video and sound reached the server but could not be connected securely.',
    tips: ['Try another network.', 'If a VPN or security software checks your internet traffic, turn it off.'],
  },
  MEDIA_NO_INBOUND: {
    say: 'You are connected, but no video or sound is arriving from the others.',
    tips: ['Try another network, or move closer to the Wi-Fi.', 'Ask the others whether they can see and hear you: the problem may be on their side.'],
  },
};

/**
 * The words for a media problem: what happened, what to try (with the server's media addresses
 * for an IT team), and the code to quote.
 */
export function mediaProblemText(code: string, endpoints: readonly string[]): { say: string; tips: string[]; code: string } {
  const text = MEDIA_PROBLEM_TEXT[code] ?? { say: 'Your video and sound are having trouble connecting.', tips: ['Try another network.'] };
  const it = endpoints.length > 0
    ? `At school or work? Ask IT to allow video calls to ${endpoints.join(', ')}.`
    : 'At school or work? Ask IT to allow video calls.';
  return { say: text.say, tips: [...text.tips, it], code: `Problem code for IT: ${code}` };
}

/** A tile's connection quality in words (shown, not colour alone). */
export const QUALITY_LABELS: Record<Quality, string> = {
  good: 'Connection: good',
  poor: 'Connection: poor',
  lost: 'Connection: lost',
};

/** Who to ask for a new link, in the words of a family that got one by email or text message. */
const ASK = 'Ask the clinician or school who sent it for a new one.';

/**
 * What the page says when the link check (link-check.ts) refuses the link, before any form: in
 * plain words, with what to do. `page` names the link the person holds ("desk link" on the desk page).
 */
export function linkProblemText(code: string, page: 'session' | 'desk' = 'session'): string {
  const ask = page === 'desk' ? 'Ask your operator for a new desk link.' : ASK;
  const words: Record<string, string> = {
    TOKEN_EXPIRED: `This link has expired. ${ask}`,
    TOKEN_INVALID: `This link is not complete or not valid. Check that you opened the whole link; otherwise ${ask.charAt(0).toLowerCase()}${ask.slice(1)}`,
    TOKEN_MISSING: `This link is not complete: it carries no access. ${ask}`,
    TOKEN_ALGORITHM_NOT_ALLOWED: `This link was made incorrectly. ${ask}`,
    TOKEN_CLAIMS_INVALID: `This link was made incorrectly. ${ask}`,
    TOKEN_NOT_YET_VALID: 'This link cannot be used yet. Check the date and time on this device, or open the link again at the session time.',
    IDENTITY_REVOKED: `This link can no longer be used to join. ${ask}`,
    WRONG_ROOM: `This link is for a different session. ${ask}`,
    RATE_LIMITED: 'This page was opened too many times from this network in a short time. Wait a minute, then reload the page.',
    SERVER_UNREACHABLE: 'The session server cannot be reached. Check the internet connection, then reload the page.',
  };
  return words[code] ?? `This link could not be checked (${code}). Reload the page; if it happens again, ${ask.charAt(0).toLowerCase()}${ask.slice(1)}`;
}

/**
 * The status pill in words (its `data-state` keeps the state and `data-code` the error code, for
 * tests and operators): never `idle` or `error:TOKEN_INVALID`.
 */
export function statusText(state: string): string {
  if (state.startsWith('error:')) return 'Not connected';
  if (state.startsWith('link-error:')) return 'Link problem';
  const words: Record<string, string> = {
    'checking': 'Checking your link…',
    'no-link': 'No session link',
    'ready': 'Ready to join',
    'resuming': 'Reconnecting…',
    'idle': 'Not in the session',
    'joining': 'Joining…',
    'joined': 'In the session',
    'reconnecting': 'Reconnecting…',
  };
  return words[state] ?? state;
}

/** Writes the status pill: words, `data-state` (the state as is), `data-code` (the error code, if any). */
export function showStatus(status: HTMLElement, state: string): void {
  status.textContent = statusText(state);
  status.dataset.state = state;
  const code = /^(?:error|link-error):(.*)$/.exec(state)?.[1];
  if (code) status.dataset.code = code;
  else delete status.dataset.code;
}
