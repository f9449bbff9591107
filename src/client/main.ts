import { Session, type IcePath, type InboundStat, type MediaProblem, type OutboundStat, type SessionState } from './session.ts';
import type { Quality } from './quality.ts';
import { View } from './ui.ts';
import { prepareSafetyForm, readSafetyForm, roleFromToken } from './safety.ts';
import { timings } from './timeline.ts';
import { PanicPanel, type AlertsState, type PanicState } from './panic.ts';

/** What tests (and curious operators, from the console) can reach as `window.sfuClient`. */
export interface SfuClientApi {
  readonly state: SessionState;
  readonly participantId: string | undefined;
  remoteParticipants(): string[];
  inboundStats(): Promise<InboundStat[]>;
  /** What this page uploads: its camera's outbound streams (per simulcast encoding, or the SVC stream). */
  outboundStats(): Promise<OutboundStat[]>;
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
  /** The Retry button: ICE restarted on both transports, checked again. */
  retryMedia(): Promise<void>;
  /** Each remote participant's connection quality as their tile shows it. */
  quality(): Record<string, Quality>;
}

declare global {
  interface Window {
    sfuClient: SfuClientApi;
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

const session = new Session();
const view = new View(session);

const tokenInput = document.getElementById('token') as HTMLInputElement;
const form = document.getElementById('join-form') as HTMLFormElement;
const leaveButton = document.getElementById('leave') as HTMLButtonElement;
let link = readFragment();
const panic = new PanicPanel(session, () => tokenInput.value.trim());
const mediaProblems: { code: string | null; direction?: string; at: number }[] = [];
session.events.on('mediaProblem', (p) => mediaProblems.push(p ? { code: p.code, direction: p.direction, at: Date.now() } : { code: null, at: Date.now() }));
let quality: Record<string, Quality> = {};
session.events.on('quality', (list) => { quality = Object.fromEntries(list.map((q) => [q.participantId, q.quality])); });
session.events.on('state', (state) => { if (state !== 'joined' && state !== 'reconnecting') quality = {}; });

function fillFromFragment(): void {
  link = readFragment();
  if (link.get('token')) tokenInput.value = link.get('token')!;
  prepareSafetyForm(roleFromToken(tokenInput.value.trim()), link);
}
fillFromFragment();
window.addEventListener('hashchange', fillFromFragment);
tokenInput.addEventListener('change', () => prepareSafetyForm(roleFromToken(tokenInput.value.trim()), link));
document.getElementById('consent-relation')!.addEventListener('change', (ev) => {
  (ev.target as HTMLElement).dataset.touched = '1';
});

async function join(): Promise<void> {
  const form = readSafetyForm(link.get('policy') ?? undefined);
  if (!form.ok) {
    view.formProblem(form.field, form.message);
    return;
  }
  await session.join({
    url: signallingUrl(tokenInput.value.trim(), link.get('room') ?? ''),
    consent: form.consent,
    location: form.location,
    // `#relay=1`: media only through the TURN server (README.md "Session links").
    ...(link.get('relay') === '1' ? { iceTransportPolicy: 'relay' as const } : {}),
  });
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void join();
});
leaveButton.addEventListener('click', () => void session.leave());
// Leaving frees the seat at once; otherwise the server holds it for its reconnection grace period.
window.addEventListener('pagehide', () => session.leaveNow());

window.sfuClient = {
  get state() { return session.state; },
  get participantId() { return session.participantId; },
  remoteParticipants: () => session.remoteParticipants().map((p) => p.participantId),
  inboundStats: () => session.inboundStats(),
  outboundStats: () => session.outboundStats(),
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
};
