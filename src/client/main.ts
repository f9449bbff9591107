import { Session, type InboundStat, type SessionState } from './session.ts';
import { View } from './ui.ts';

/** What tests (and curious operators, from the console) can reach as `window.sfuClient`. */
export interface SfuClientApi {
  readonly state: SessionState;
  readonly participantId: string | undefined;
  remoteParticipants(): string[];
  inboundStats(): Promise<InboundStat[]>;
  /** Milliseconds from the Join click to each step of the join (connected, admitted, joined, first-remote-frame, ...). */
  timings(): Record<string, number>;
  join(): Promise<void>;
  leave(): Promise<void>;
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
function readFragment(): { token: string; room: string } {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  return { token: params.get('token') ?? '', room: params.get('room') ?? '' };
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
new View(session);

const tokenInput = document.getElementById('token') as HTMLInputElement;
const form = document.getElementById('join-form') as HTMLFormElement;
const leaveButton = document.getElementById('leave') as HTMLButtonElement;
let room = '';

function fillFromFragment(): void {
  const f = readFragment();
  if (f.token) tokenInput.value = f.token;
  room = f.room;
}
fillFromFragment();
window.addEventListener('hashchange', fillFromFragment);

async function join(): Promise<void> {
  await session.join({ url: signallingUrl(tokenInput.value.trim(), room) });
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
  timings: () => session.timings(),
  join,
  leave: () => session.leave(),
};
