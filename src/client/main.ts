import { Session, type IcePath, type InboundStat, type MediaProblem, type OutboundStat, type SessionState } from './session.ts';
import type { Quality } from './quality.ts';
import { View } from './ui.ts';
import { readSafetyForm } from './safety.ts';
import { PreJoin, type PreJoinState } from './prejoin.ts';
import { checkLink, type LinkCheck, type RoomLink } from './link-check.ts';
import { linkProblemText } from './messages.ts';
import { showStatus } from './status-pill.ts';
import { clearResume, loadResume, saveResume } from './resume-store.ts';
import { saveGuardianDetails } from './guardian-details.ts';
import { timings } from './timeline.ts';
import { PanicPanel, type AlertsState, type PanicState } from './panic.ts';
import { ConsentPanel } from './consent-panel.ts';
import { ConsentNotices } from './consent-notices.ts';
import { E2eePanel } from './e2ee-panel.ts';
import type { FrameCryptoStats } from './e2ee-frame-crypto.ts';
import { roleInToken } from './alarm-alerts.ts';
import { setAudience, t } from './i18n/language.ts';
import { bind, setText, startLocalization } from './i18n/localize.ts';
import { initialLanguage, wireLanguagePicker } from './i18n/language-picker.ts';

/** What tests (and curious operators, from the console) can reach as `window.sfuClient`. */
export interface SfuClientApi {
  readonly state: SessionState;
  readonly participantId: string | undefined;
  remoteParticipants(): string[];
  inboundStats(): Promise<InboundStat[]>;
  /** What this page uploads: its camera's outbound streams (per simulcast encoding, or the SVC stream), or with 'audio' its microphone's. */
  outboundStats(kind?: 'audio' | 'video'): Promise<OutboundStat[]>;
  /** The candidate pair each media transport uses now: localType 'relay' means through the TURN server. */
  icePaths(): Promise<IcePath[]>;
  /** Milliseconds from the Join click to each step of the join (connected, admitted, joined, first-remote-frame, ...). */
  timings(): Record<string, number>;
  join(): Promise<void>;
  leave(): Promise<void>;
  /** The panic button's last alarm: the server's incident id, and whether the server has it. */
  panic(): PanicState;
  /** Clinicians: the alarms this page was alerted to, and the panic events it received. */
  alerts(): AlertsState;
  /** The room's dominant speaker as the server last named it (its tile is outlined). */
  activeSpeaker(): string | undefined;
  /** What stops media now (MEDIA_ICE_FAILED, MEDIA_DTLS_FAILED, MEDIA_NO_INBOUND), if anything. */
  mediaProblem(): MediaProblem | undefined;
  /** Every mediaProblem event of this page, in order: the code (null once cleared), the transport, Date.now(). */
  mediaProblems(): { code: string | null; direction?: string; at: number }[];
  /** The Retry button: ICE restarted on both transports, checked again; new transports if one is still not connected 10 s later. */
  retryMedia(): Promise<void>;
  /** Each remote participant's connection quality as their tile shows it. */
  quality(): Record<string, Quality>;
  /** The pre-join screen: preview tracks, the microphone level, chosen devices, a capture problem. */
  prejoin(): PreJoinState;
  /** The server's answer about this page's link (undefined before the check). */
  linkCheck(): LinkCheck | undefined;
  /** End-to-end encryption: the transform API this browser has, the room's mode, whether media is encrypted, our key's epoch, the security code. */
  e2ee(): { supported: boolean; api: string | undefined; mode: string; active: boolean; epoch: number | undefined; code: string | undefined };
  /** The E2EE worker's counters: frames encrypted and decrypted, drops by reason, time spent, epochs (undefined when not encrypted). */
  e2eeStats(): Promise<FrameCryptoStats | undefined>;
  /** The frame crypto's own cost in this page's E2EE worker: `n` frames of `bytes` with a throwaway key (medians in µs). */
  e2eeMeasure(n: number, bytes: number): Promise<unknown>;
}

declare global {
  interface Window {
    sfuClient: SfuClientApi;
    /** Tests only, set before the page's scripts: the E2EE worker keeps replaced keys and tries them on new frames. */
    sfuE2eeDebug?: boolean;
  }
}

/**
 * The link carries the token in the fragment (`/#token=...&room=...`): browsers never send the
 * fragment to the server, so tokens stay out of access logs and Referer headers.
 */
function readFragment(): URLSearchParams {
  return new URLSearchParams(location.hash.replace(/^#/, ''));
}

function signallingUrl(token: string, room: string): string {
  const url = new URL('/rtc', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.searchParams.set('token', token);
  if (room) url.searchParams.set('room', room);
  return url.toString();
}

// The words first: every component below writes its text in the page's language.
initialLanguage(audienceOf(readFragment().get('token') ?? ''));
startLocalization();
wireLanguagePicker(document.getElementById('language') as HTMLSelectElement | null);

const session = new Session({ e2eeDebug: window.sfuE2eeDebug === true });
const view = new View(session);
const e2eePanel = new E2eePanel(session);
const prejoin = new PreJoin();

const status = document.getElementById('status')!;
const message = document.getElementById('message')!;
const noLink = document.getElementById('no-link')!;
const linkProblem = document.getElementById('link-problem')!;
const leaveButton = document.getElementById('leave') as HTMLButtonElement;
let link = readFragment();
let token = '';
/** The server's answer about this link (link-check.ts), once it accepted it. */
let checked: RoomLink | undefined;
let lastCheck: LinkCheck | undefined;
const panic = new PanicPanel(session, () => token);
// Withdrawing and giving consent again, away from Leave; what changed for the others, announced.
new ConsentPanel(session, () => consentPolicy(), document.getElementById('tiles')!);
new ConsentNotices(session, document.getElementById('tiles')!);
const mediaProblems: { code: string | null; direction?: string; at: number }[] = [];
session.events.on('mediaProblem', (p) => mediaProblems.push(p ? { code: p.code, direction: p.direction, at: Date.now() } : { code: null, at: Date.now() }));
let quality: Record<string, Quality> = {};
session.events.on('quality', (list) => { quality = Object.fromEntries(list.map((q) => [q.participantId, q.quality])); });
session.events.on('state', (state) => { if (state !== 'joined' && state !== 'reconnecting') quality = {}; });
document.getElementById('consent-relation')!.addEventListener('change', (ev) => {
  (ev.target as HTMLElement).dataset.touched = '1';
});

/** A student's link gets the words for a child (informal Spanish); the role claim is read unverified, only for that. */
function audienceOf(token: string): 'child' | 'adult' {
  return roleInToken(token) === 'student' ? 'child' : 'adult';
}

/** The link's token was refused (before any form, or by the join): say why in words, show no form. */
function showLinkProblem(code: string, text: () => (string | Node)[] = () => [linkProblemText(code)]): void {
  checked = undefined;
  prejoin.stop();
  prejoin.hide();
  noLink.hidden = true;
  linkProblem.hidden = false;
  linkProblem.dataset.code = code;
  const where = document.getElementById('link-problem-text')!;
  bind(where, 'content', () => where.replaceChildren(...text()));
  setText(message, () => '');
  showStatus(status, `link-error:${code}`);
}

/** Codes that mean the link itself cannot be used (not the form, not the network). */
const LINK_CODES = /^(TOKEN_\w+|IDENTITY_REVOKED|WRONG_ROOM)$/;

/**
 * What the page does on load: no token, an explanation; a session of this tab to resume (a
 * reload), resumed without the form; otherwise the link is checked with the server first, and
 * only a link it accepts gets the pre-join screen.
 */
async function start(): Promise<void> {
  link = readFragment();
  token = link.get('token')?.trim() ?? '';
  setAudience(audienceOf(token));
  checked = undefined;
  noLink.hidden = true;
  linkProblem.hidden = true;
  prejoin.hide();
  if (!token) {
    noLink.hidden = false;
    showStatus(status, 'no-link');
    return;
  }
  const resumeToken = loadResume(token);
  if (resumeToken) {
    showStatus(status, 'resuming');
    setText(message, () => t('link.resuming'));
    await session.join({ url: signallingUrl(token, link.get('room') ?? ''), resumeToken, ...relay() });
    if (session.state === 'joined') return;
    clearResume();
    console.info(`resume after reload answered ${session.state}`);
  }
  showStatus(status, 'checking');
  const result = await checkLink(token, link.get('room') ?? undefined);
  lastCheck = result;
  if (result.kind === 'error') {
    showLinkProblem(result.code);
    return;
  }
  if (result.kind === 'desk') {
    const href = `/desk.html${location.hash}`;
    showLinkProblem('DESK_LINK', () => [t('link.desk'), Object.assign(document.createElement('a'), { href, textContent: t('link.openDesk') }), '.']);
    return;
  }
  checked = result;
  setText(message, () => resumeToken ? t('link.resumeEnded') : '');
  prejoin.show(result, link);
  e2eePanel.showPrejoin(result);
  showStatus(status, 'ready');
}

/** `#relay=1`: media only through the TURN server (README.md "Links to the pages"). */
function relay(): { iceTransportPolicy?: RTCIceTransportPolicy } {
  return link.get('relay') === '1' ? { iceTransportPolicy: 'relay' } : {};
}

/**
 * The consent terms for consent given again during the call: those of the join; after a reload
 * that resumed the session (no link check on this page), the link's, else the server's current ones.
 */
async function consentPolicy(): Promise<string | undefined> {
  if (checked) return policyVersion(link, checked);
  if (link.get('policy')) return link.get('policy')!;
  const result = await checkLink(token, link.get('room') ?? undefined);
  return result.kind === 'room' ? policyVersion(link, result) : undefined;
}

/** The policy version shown and consented to: the link's when the server still accepts it, else the server's current one. */
function policyVersion(link: URLSearchParams, checked: RoomLink): string {
  const fromLink = link.get('policy');
  return fromLink && checked.consent.policyVersions.includes(fromLink) ? fromLink : checked.consent.policyVersion;
}

async function join(): Promise<void> {
  // A session that must be end-to-end encrypted, and a browser that cannot: the page said so; no join that would be refused.
  if (!checked || e2eePanel.showPrejoin(checked)) return;
  const form = readSafetyForm(policyVersion(link, checked), checked.requires);
  if (!form.ok) {
    view.formProblem(form.field, form.message);
    return;
  }
  if ((document.getElementById('remember-details') as HTMLInputElement).checked) saveGuardianDetails();
  const { stream, devices } = prejoin.takeMedia();
  await session.join({
    url: signallingUrl(token, link.get('room') ?? ''),
    consent: form.consent,
    location: form.location,
    ...(stream ? { media: stream } : {}),
    devices,
    ...relay(),
  });
}

session.events.on('state', (state) => {
  const busy = state === 'joining' || state === 'joined' || state === 'reconnecting';
  if (busy) prejoin.hide();
  if (state === 'joined' && session.resumeToken) saveResume(token, session.resumeToken);
  if (busy) return;
  // The session is over (left, refused, ended): nothing to resume from a reload.
  clearResume();
  const code = state.startsWith('error:') ? state.slice('error:'.length) : undefined;
  if (code && LINK_CODES.test(code)) showLinkProblem(code);
  else if (checked) {
    prejoin.show(checked, link);
    e2eePanel.showPrejoin(checked);
  }
});

document.getElementById('join-form')!.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void join();
});
leaveButton.addEventListener('click', () => void session.leave());
window.addEventListener('pagehide', () => {
  prejoin.stop();
  // A session this tab can resume (a reload) is only suspended: the server holds it for its grace
  // period. Otherwise leaving frees the seat at once.
  if (loadResume(token) && (session.state === 'joined' || session.state === 'reconnecting')) session.suspendNow();
  else session.leaveNow();
});
window.addEventListener('hashchange', () => {
  if (session.state === 'idle' || session.state.startsWith('error:')) void start();
});
void start();

window.sfuClient = {
  get state() { return session.state; },
  get participantId() { return session.participantId; },
  remoteParticipants: () => session.remoteParticipants().map((p) => p.participantId),
  inboundStats: () => session.inboundStats(),
  outboundStats: (kind?: 'audio' | 'video') => session.outboundStats(kind),
  icePaths: () => session.icePaths(),
  timings,
  join,
  leave: () => session.leave(),
  panic: () => panic.state(),
  alerts: () => panic.alerts(),
  activeSpeaker: () => session.activeSpeaker,
  mediaProblem: () => session.mediaProblem,
  mediaProblems: () => [...mediaProblems],
  retryMedia: () => session.retryMedia(),
  quality: () => ({ ...quality }),
  prejoin: () => prejoin.state(),
  linkCheck: () => lastCheck,
  e2ee: () => ({ supported: session.e2ee.supported, api: session.e2ee.api, mode: session.e2ee.mode, active: session.e2ee.active, epoch: session.e2ee.epoch, code: session.e2ee.code }),
  e2eeStats: () => session.e2ee.stats(),
  e2eeMeasure: (n: number, bytes: number) => session.e2ee.measure(n, bytes),
};
