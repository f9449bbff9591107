import type { MediaProblem, RemoteParticipant, RemoteTrack, Session, SessionState, TileQuality } from './session.ts';
import { errorText, mediaProblemText, QUALITY_LABELS, roleLabel } from './messages.ts';
import { mark } from './timeline.ts';
import { ViewportReporter } from './viewport.ts';

interface Tile {
  readonly root: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly audio: HTMLAudioElement;
  readonly badge: HTMLElement;
  /** The connection quality of what we receive from them: words, a coloured dot beside. */
  readonly quality: HTMLElement;
  readonly safety: HTMLElement;
  participant: RemoteParticipant;
  /** consumerId -> track, with whether the sender paused it. */
  readonly tracks: Map<string, { track: MediaStreamTrack; paused: boolean; screen: boolean }>;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page is missing #${id}`);
  return e as T;
}

/**
 * The page: a tile per remote participant (video, audio, a role label and a muted/camera-off
 * badge), our own preview, the status line and the controls. Reads nothing but session events.
 */
export class View {
  readonly #session: Session;
  readonly #tiles = new Map<string, Tile>();
  readonly #grid = byId<HTMLElement>('tiles');
  readonly #status = byId<HTMLElement>('status');
  readonly #message = byId<HTMLElement>('message');
  readonly #notices = byId<HTMLUListElement>('notices');
  readonly #joinForm = byId<HTMLFormElement>('join-form');
  readonly #joinButton = byId<HTMLButtonElement>('join');
  readonly #leaveButton = byId<HTMLButtonElement>('leave');
  readonly #micButton = byId<HTMLButtonElement>('toggle-mic');
  readonly #cameraButton = byId<HTMLButtonElement>('toggle-camera');
  readonly #soundButton = byId<HTMLButtonElement>('enable-sound');
  readonly #withdrawButton = byId<HTMLButtonElement>('withdraw-consent');
  #withdrawArmed: ReturnType<typeof setTimeout> | undefined;
  readonly #localTile = byId<HTMLElement>('local-tile');
  readonly #localVideo = byId<HTMLVideoElement>('local-video');
  readonly #localLabel = byId<HTMLElement>('local-label');
  readonly #problem = byId<HTMLElement>('media-problem');
  readonly #problemText = byId<HTMLElement>('media-problem-text');
  readonly #problemTips = byId<HTMLUListElement>('media-problem-tips');
  readonly #problemCode = byId<HTMLElement>('media-problem-code');
  readonly #retryButton = byId<HTMLButtonElement>('media-retry');
  /** Tells the server each video tile's size and visibility (layer choice, pausing hidden tiles). */
  readonly #viewports: ViewportReporter;

  constructor(session: Session) {
    this.#session = session;
    this.#viewports = new ViewportReporter((consumerId, v) => session.setViewport(consumerId, v));
    const ev = session.events;
    ev.on('state', (state, detail) => this.#onState(state, detail));
    ev.on('notice', (text) => this.#notice(text));
    ev.on('localMedia', (stream) => this.#onLocalMedia(stream));
    ev.on('participantJoined', (p) => this.#addTile(p));
    ev.on('participantLeft', (id) => this.#removeTile(id));
    ev.on('participantRestored', (p) => this.#notice(`${roleLabel(p.role)} is back (reconnected after a server change).`));
    ev.on('participantUpdated', (p) => {
      const tile = this.#tiles.get(p.participantId);
      if (!tile) return;
      tile.participant = p;
      this.#refresh(tile);
    });
    ev.on('trackAdded', (t) => this.#onTrack(t));
    ev.on('activeSpeaker', (id) => this.#markSpeaker(id));
    ev.on('mediaProblem', (problem) => this.#showProblem(problem));
    ev.on('quality', (q) => this.#showQuality(q));
    ev.on('trackRemoved', ({ participantId, consumerId }) => {
      const tile = this.#tiles.get(participantId);
      this.#viewports.forget(consumerId);
      if (!tile) return;
      tile.tracks.delete(consumerId);
      this.#refresh(tile);
    });
    ev.on('trackPaused', ({ participantId, consumerId, paused }) => {
      const tile = this.#tiles.get(participantId);
      const entry = tile?.tracks.get(consumerId);
      if (!tile || !entry) return;
      entry.paused = paused;
      this.#refresh(tile);
    });
    this.#micButton.addEventListener('click', () => void this.#toggle('mic'));
    this.#cameraButton.addEventListener('click', () => void this.#toggle('camera'));
    this.#withdrawButton.addEventListener('click', () => void this.#withdraw());
    this.#retryButton.addEventListener('click', () => {
      this.#showProblem(undefined);
      this.#notice('Trying to connect your video and sound again…');
      void session.retryMedia();
    });
    this.#soundButton.addEventListener('click', () => {
      for (const t of this.#tiles.values()) void t.audio.play().catch(() => undefined);
      this.#soundButton.hidden = true;
    });
    this.#onState(session.state, undefined);
  }

  /** Outlines the dominant speaker's tile (ours included), and only theirs (none when nobody is). */
  #markSpeaker(participantId: string | undefined): void {
    for (const [id, tile] of this.#tiles) tile.root.classList.toggle('speaking', id === participantId);
    this.#localTile.classList.toggle('speaking', participantId !== undefined && participantId === this.#session.participantId);
  }

  #onState(state: SessionState, detail: string | undefined): void {
    if (state === 'joining') for (const e of this.#joinForm.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    this.#status.textContent = state;
    this.#status.dataset.state = state;
    const busy = state === 'joining' || state === 'joined' || state === 'reconnecting';
    this.#joinForm.hidden = busy;
    this.#joinButton.disabled = busy;
    this.#leaveButton.hidden = !busy;
    document.body.dataset.state = state.startsWith('error:') ? 'error' : state;
    if (state.startsWith('error:')) {
      this.#message.textContent = errorText(state.slice('error:'.length), detail);
    } else {
      this.#message.textContent = state === 'joining' ? 'Joining the session…'
        : state === 'reconnecting' ? 'Connection lost; reconnecting…'
          : state === 'joined' ? (this.#tiles.size === 0 ? 'You are in the session. Waiting for others to join.' : '')
            : detail === 'left' ? 'You left the session.' : '';
    }
    if (state === 'joined') this.#localLabel.textContent = `You (${roleLabel(this.#session.role)})`;
    this.#updateToggles();
    if (!busy) {
      this.#showProblem(undefined);
      this.#notices.replaceChildren();
      this.#soundButton.hidden = true;
    }
  }

  /** Media cannot connect: what happened, what to try, Retry and the code; hidden when undefined. */
  #showProblem(problem: MediaProblem | undefined): void {
    this.#problem.hidden = !problem;
    this.#problem.dataset.code = problem?.code ?? '';
    if (!problem) return;
    const text = mediaProblemText(problem.code, problem.endpoints);
    this.#problemText.textContent = text.say;
    this.#problemTips.replaceChildren(...text.tips.map((t) => el('li', {}, t)));
    this.#problemCode.textContent = text.code;
  }

  /** Each tile's quality label; a tile with nothing that should arrive shows none. */
  #showQuality(list: TileQuality[]): void {
    const rated = new Map(list.map((q) => [q.participantId, q]));
    for (const [id, tile] of this.#tiles) {
      const q = rated.get(id);
      tile.quality.hidden = !q;
      tile.quality.dataset.quality = q?.quality ?? '';
      tile.quality.textContent = q ? QUALITY_LABELS[q.quality] : '';
      tile.quality.title = q?.detail ?? '';
    }
  }

  /** A problem with the join form, found before anything was sent: point at the field. */
  formProblem(fieldId: string, message: string): void {
    this.#message.textContent = message;
    document.body.dataset.state = 'error';
    for (const e of this.#joinForm.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    const field = document.getElementById(fieldId);
    field?.setAttribute('aria-invalid', 'true');
    field?.focus();
  }

  #notice(text: string): void {
    const li = el('li', {}, text);
    this.#notices.append(li);
    while (this.#notices.children.length > 5) this.#notices.firstElementChild?.remove();
  }

  #onLocalMedia(stream: MediaStream | undefined): void {
    this.#localVideo.srcObject = stream ?? null;
    this.#localTile.hidden = !stream || stream.getVideoTracks().length === 0;
    this.#updateToggles();
    for (const tile of this.#tiles.values()) this.#refresh(tile);
  }

  #addTile(p: RemoteParticipant): void {
    if (this.#tiles.has(p.participantId)) return;
    const root = el('figure', { class: 'tile', 'data-participant-id': p.participantId, 'data-role': p.role });
    root.classList.toggle('speaking', p.participantId === this.#session.activeSpeaker);
    const video = el('video', { autoplay: '', playsinline: '' });
    video.muted = true; // sound plays through the <audio> element
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(() => mark('first-remote-frame'));
    const audio = el('audio', { autoplay: '' });
    const caption = el('figcaption', { class: 'label' }, roleLabel(p.role));
    const badge = el('span', { class: 'badge' });
    const quality = el('span', { class: 'quality', hidden: '' });
    const safety = el('p', { class: 'safety' });
    root.append(video, audio, caption, badge, quality, safety);
    this.#grid.append(root);
    const tile: Tile = { root, video, audio, badge, quality, safety, participant: p, tracks: new Map() };
    this.#tiles.set(p.participantId, tile);
    this.#viewports.observe(video);
    this.#refresh(tile);
    if (this.#session.state === 'joined') this.#message.textContent = '';
  }

  #removeTile(participantId: string): void {
    const tile = this.#tiles.get(participantId);
    if (!tile) return;
    this.#viewports.unobserve(tile.video);
    tile.video.srcObject = null;
    tile.audio.srcObject = null;
    tile.root.remove();
    this.#tiles.delete(participantId);
    if (this.#session.state === 'joined' && this.#tiles.size === 0) this.#message.textContent = 'Everyone else has left the session.';
  }

  #onTrack(t: RemoteTrack): void {
    const tile = this.#tiles.get(t.participantId);
    if (!tile) return;
    tile.tracks.set(t.consumerId, { track: t.track, paused: t.paused, screen: t.source === 'screen' });
    this.#refresh(tile);
  }

  /** Puts the tile's current tracks on its elements: a shared screen wins over the camera. */
  #refresh(tile: Tile): void {
    const entries = [...tile.tracks.entries()].map(([consumerId, e]) => ({ consumerId, ...e }));
    const videos = entries.filter((e) => e.track.kind === 'video').sort((a, b) => Number(b.screen) - Number(a.screen));
    const audios = entries.filter((e) => e.track.kind === 'audio');
    const video = videos[0];
    setTracks(tile.video, video ? [video.track] : []);
    this.#viewports.assign(tile.video, video?.consumerId, videos.slice(1).map((v) => v.consumerId));
    setTracks(tile.audio, audios.map((a) => a.track));
    if (audios.length > 0) {
      tile.audio.play().catch(() => { this.#soundButton.hidden = false; });
    }
    const cameraOff = !video || video.paused;
    const muted = audios.length === 0 || audios.every((a) => a.paused);
    const p = tile.participant;
    tile.root.classList.toggle('no-video', cameraOff);
    tile.root.classList.toggle('consent-withdrawn', p.consentWithdrawn);
    tile.badge.textContent = p.consentWithdrawn ? 'Consent withdrawn'
      : !this.#session.mediaAllowed ? ''
        : [muted ? 'Muted' : '', cameraOff ? 'Camera off' : ''].filter(Boolean).join(' · ');
    tile.badge.hidden = tile.badge.textContent === '';
    // Clinicians (only they are sent it) see where the person is and whom to call.
    const loc = p.safety?.location;
    const contact = p.safety?.emergencyContact;
    tile.safety.textContent = [
      loc ? `Location: ${loc.description} (${loc.region})` : '',
      contact ? `Emergency contact: ${contact.name}, ${contact.phone}` : '',
    ].filter(Boolean).join(' · ');
    tile.safety.hidden = tile.safety.textContent === '';
  }

  /** Two clicks: the first arms the button for a few seconds, the second withdraws. */
  async #withdraw(): Promise<void> {
    if (!this.#withdrawArmed) {
      this.#withdrawButton.textContent = 'Click again to stop video and audio now';
      this.#withdrawArmed = setTimeout(() => {
        this.#withdrawArmed = undefined;
        this.#updateToggles();
      }, 5000);
      return;
    }
    clearTimeout(this.#withdrawArmed);
    this.#withdrawArmed = undefined;
    try {
      await this.#session.withdrawConsent(['telehealth']);
    } catch {
      this.#notice('Could not withdraw consent: check your connection, or leave the session.');
    }
    this.#updateToggles();
  }

  async #toggle(source: 'mic' | 'camera'): Promise<void> {
    const enabled = this.#session.sourceEnabled(source);
    if (enabled === undefined) return;
    try {
      await this.#session.setSourceEnabled(source, !enabled);
    } catch {
      this.#notice(`Could not ${enabled ? 'turn off' : 'turn on'} your ${source === 'mic' ? 'microphone' : 'camera'}.`);
    }
    this.#updateToggles();
  }

  #updateToggles(): void {
    const joined = this.#session.state === 'joined';
    this.#withdrawButton.hidden = !joined || !this.#session.mediaAllowed;
    if (!this.#withdrawArmed) this.#withdrawButton.textContent = 'Withdraw consent';
    for (const [button, source, on, off] of [
      [this.#micButton, 'mic', 'Mute microphone', 'Unmute microphone'],
      [this.#cameraButton, 'camera', 'Turn camera off', 'Turn camera on'],
    ] as const) {
      const enabled = this.#session.sourceEnabled(source);
      button.hidden = enabled === undefined || this.#session.state !== 'joined';
      button.textContent = enabled === false ? off : on;
      button.setAttribute('aria-pressed', String(enabled === false));
    }
  }
}

/** Sets a media element's tracks, touching srcObject only when they changed (avoids flicker). */
function setTracks(media: HTMLMediaElement, tracks: MediaStreamTrack[]): void {
  const current = media.srcObject instanceof MediaStream ? media.srcObject.getTracks() : [];
  if (current.length === tracks.length && current.every((t, i) => t === tracks[i])) return;
  media.srcObject = tracks.length > 0 ? new MediaStream(tracks) : null;
}
