import type { MediaProblem, RemoteParticipant, RemoteTrack, Session, SessionState, TileQuality } from './session.ts';
import { errorText, mediaProblemText, qualityLabel, roleLabel } from './messages.ts';
import { showStatus } from './status-pill.ts';
import { t } from './i18n/language.ts';
import { bind, setText } from './i18n/localize.ts';
import { mark } from './timeline.ts';
import { ViewportReporter } from './viewport.ts';
import { Stage } from './stage.ts';
import { screenKey } from './stage-layout.ts';
import { el, makeTile, type TileParts } from './tile.ts';
import { ScreenControl } from './screen-control.ts';

/** A remote participant's camera tile (their sound plays through its audio element). */
interface Tile {
  readonly parts: TileParts;
  readonly audio: HTMLAudioElement;
  /** The connection quality of what we receive from them: words, a coloured dot beside. */
  readonly quality: HTMLElement;
  /** Clinicians: where the person is and whom to call, below the picture. */
  readonly safety: HTMLElement;
  participant: RemoteParticipant;
  /** consumerId -> camera or microphone track, with whether the sender paused it. */
  readonly tracks: Map<string, { track: MediaStreamTrack; paused: boolean }>;
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page is missing #${id}`);
  return e as T;
}

/**
 * The page: a tile per remote participant (video, audio, a role label, a muted/camera-off badge,
 * for clinicians the location below the picture), a tile per screen share, our own preview, laid
 * out as a stage and a filmstrip (stage.ts); the status line and the controls. Reads nothing but
 * session events.
 */
export class View {
  readonly #session: Session;
  readonly #tiles = new Map<string, Tile>();
  /** participantId -> their screen share's tile and consumer. */
  readonly #screens = new Map<string, { parts: TileParts; consumerId: string }>();
  readonly #stage = new Stage(byId('stage'), byId('filmstrip'), byId('stage-info'));
  readonly #status = byId<HTMLElement>('status');
  readonly #message = byId<HTMLElement>('message');
  readonly #notices = byId<HTMLUListElement>('notices');
  readonly #joinForm = byId<HTMLFormElement>('join-form');
  readonly #joinButton = byId<HTMLButtonElement>('join');
  readonly #leaveButton = byId<HTMLButtonElement>('leave');
  readonly #micButton = byId<HTMLButtonElement>('toggle-mic');
  readonly #cameraButton = byId<HTMLButtonElement>('toggle-camera');
  readonly #soundButton = byId<HTMLButtonElement>('enable-sound');
  readonly #local = makeTile({ attrs: { id: 'local-tile', hidden: '' }, label: () => t('call.you'), pinnable: false, mirrored: true });
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
    this.#local.root.classList.add('local');
    this.#stage.add({ key: 'local', participantId: '', source: 'camera', local: true }, this.#local);
    new ScreenControl(session, this.#stage, (text) => this.#notice(text));
    const ev = session.events;
    ev.on('state', (state, detail) => this.#onState(state, detail));
    ev.on('notice', (text) => this.#notice(text));
    ev.on('localMedia', (stream) => this.#onLocalMedia(stream));
    ev.on('participantJoined', (p) => this.#addTile(p));
    ev.on('participantLeft', (id) => this.#removeTile(id));
    ev.on('participantRestored', (p) => this.#notice(() => t('call.restored', { role: roleLabel(p.role) })));
    ev.on('participantUpdated', (p) => {
      const tile = this.#tiles.get(p.participantId);
      if (!tile) return;
      tile.participant = p;
      this.#refresh(tile);
    });
    ev.on('trackAdded', (t) => this.#onTrack(t));
    ev.on('activeSpeaker', (id) => {
      this.#markSpeaker(id);
      this.#stage.setSpeaker(id);
    });
    ev.on('mediaProblem', (problem) => this.#showProblem(problem));
    ev.on('quality', (q) => this.#showQuality(q));
    ev.on('trackRemoved', ({ participantId, consumerId }) => {
      const tile = this.#tiles.get(participantId);
      this.#viewports.forget(consumerId);
      if (this.#screens.get(participantId)?.consumerId === consumerId) this.#removeScreen(participantId);
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
    this.#retryButton.addEventListener('click', () => {
      this.#showProblem(undefined);
      this.#notice(() => t('media.retrying'));
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
    for (const [id, tile] of this.#tiles) tile.parts.root.classList.toggle('speaking', id === participantId);
    this.#local.root.classList.toggle('speaking', participantId !== undefined && participantId === this.#session.participantId);
  }

  #onState(state: SessionState, detail: string | undefined): void {
    if (state === 'joining') for (const e of this.#joinForm.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    // Before a join the page's own states (checking the link, ready) are on the pill: an idle session does not overwrite them.
    if (state !== 'idle' || detail === 'left') showStatus(this.#status, state);
    const busy = state === 'joining' || state === 'joined' || state === 'reconnecting';
    this.#joinButton.disabled = busy;
    this.#leaveButton.hidden = !busy;
    document.body.dataset.state = state.startsWith('error:') ? 'error' : state;
    if (state.startsWith('error:')) {
      setText(this.#message, () => errorText(state.slice('error:'.length), detail));
    } else {
      const waiting = this.#tiles.size === 0;
      setText(this.#message, () => state === 'joining' ? t('call.joining')
        : state === 'reconnecting' ? t('call.reconnecting')
          : state === 'joined' ? (waiting ? t('call.waiting') : '')
            : detail === 'left' ? t('call.left') : '');
    }
    if (state === 'joined') setText(this.#local.label, () => t('call.youAs', { role: roleLabel(this.#session.role) }));
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
    const text = () => mediaProblemText(problem.code, problem.endpoints);
    setText(this.#problemText, () => text().say);
    bind(this.#problemTips, 'items', () => this.#problemTips.replaceChildren(...text().tips.map((tip) => el('li', {}, tip))));
    setText(this.#problemCode, () => text().code);
  }

  /** Each tile's quality label; a tile with nothing that should arrive shows none. */
  #showQuality(list: TileQuality[]): void {
    const rated = new Map(list.map((q) => [q.participantId, q]));
    for (const [id, tile] of this.#tiles) {
      const q = rated.get(id);
      tile.quality.hidden = !q;
      tile.quality.dataset.quality = q?.quality ?? '';
      setText(tile.quality, () => q ? qualityLabel(q.quality) : '');
      tile.quality.title = q?.detail ?? '';
    }
  }

  /** A problem with the join form, found before anything was sent: point at the field. */
  formProblem(fieldId: string, message: () => string): void {
    setText(this.#message, message);
    document.body.dataset.state = 'error';
    for (const e of this.#joinForm.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    const field = document.getElementById(fieldId);
    field?.setAttribute('aria-invalid', 'true');
    field?.focus();
  }

  #notice(text: () => string): void {
    const li = el('li');
    setText(li, text);
    this.#notices.append(li);
    while (this.#notices.children.length > 5) this.#notices.firstElementChild?.remove();
  }

  #onLocalMedia(stream: MediaStream | undefined): void {
    this.#local.video.srcObject = stream ?? null;
    this.#local.root.hidden = !stream || stream.getVideoTracks().length === 0;
    this.#updateToggles();
    for (const tile of this.#tiles.values()) this.#refresh(tile);
  }

  #addTile(p: RemoteParticipant): void {
    if (this.#tiles.has(p.participantId)) return;
    const parts = makeTile({ attrs: { 'data-participant-id': p.participantId, 'data-role': p.role }, label: () => roleLabel(p.role), pinnable: true });
    parts.root.classList.toggle('speaking', p.participantId === this.#session.activeSpeaker);
    const video = parts.video;
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(() => mark('first-remote-frame'));
    const audio = el('audio', { autoplay: '' });
    const quality = el('span', { class: 'quality', hidden: '' });
    const safety = el('p', { class: 'safety', 'data-info-of': p.participantId });
    parts.frame.append(quality);
    parts.root.append(audio, safety);
    const tile: Tile = { parts, audio, quality, safety, participant: p, tracks: new Map() };
    this.#tiles.set(p.participantId, tile);
    this.#stage.setPicture(p.participantId, false);
    this.#stage.add({ key: p.participantId, participantId: p.participantId, source: 'camera', local: false }, parts, safety);
    this.#viewports.observe(video);
    this.#refresh(tile);
    if (this.#session.state === 'joined') setText(this.#message, () => '');
  }

  #removeTile(participantId: string): void {
    const tile = this.#tiles.get(participantId);
    if (!tile) return;
    this.#removeScreen(participantId);
    this.#viewports.unobserve(tile.parts.video);
    tile.parts.video.srcObject = null;
    tile.audio.srcObject = null;
    this.#stage.remove(participantId);
    this.#tiles.delete(participantId);
    if (this.#session.state === 'joined' && this.#tiles.size === 0) setText(this.#message, () => t('call.everyoneLeft'));
  }

  #onTrack(t: RemoteTrack): void {
    const tile = this.#tiles.get(t.participantId);
    if (!tile) return;
    if (t.source === 'screen') {
      this.#addScreen(tile.participant, t);
      return;
    }
    tile.tracks.set(t.consumerId, { track: t.track, paused: t.paused });
    this.#refresh(tile);
  }

  /** A participant's screen share: its own tile (on the stage unless something is pinned). */
  #addScreen(p: RemoteParticipant, track: RemoteTrack): void {
    this.#removeScreen(p.participantId);
    const parts = makeTile({ attrs: { 'data-screen-of': p.participantId }, label: () => t('call.screenOf', { role: roleLabel(p.role) }), pinnable: true });
    parts.root.classList.add('screen');
    setTracks(parts.video, [track.track]);
    this.#screens.set(p.participantId, { parts, consumerId: track.consumerId });
    this.#stage.add({ key: screenKey(p.participantId), participantId: p.participantId, source: 'screen', local: false }, parts);
    this.#viewports.observe(parts.video);
    this.#viewports.assign(parts.video, track.consumerId, []);
  }

  #removeScreen(participantId: string): void {
    const screen = this.#screens.get(participantId);
    if (!screen) return;
    this.#screens.delete(participantId);
    this.#viewports.unobserve(screen.parts.video);
    screen.parts.video.srcObject = null;
    this.#stage.remove(screenKey(participantId));
  }

  /** Puts the tile's current camera and microphone tracks on its elements, and shows their state. */
  #refresh(tile: Tile): void {
    const entries = [...tile.tracks.entries()].map(([consumerId, e]) => ({ consumerId, ...e }));
    const videos = entries.filter((e) => e.track.kind === 'video');
    const audios = entries.filter((e) => e.track.kind === 'audio');
    const video = videos[0];
    setTracks(tile.parts.video, video ? [video.track] : []);
    this.#viewports.assign(tile.parts.video, video?.consumerId, videos.slice(1).map((v) => v.consumerId));
    setTracks(tile.audio, audios.map((a) => a.track));
    if (audios.length > 0) {
      tile.audio.play().catch(() => { this.#soundButton.hidden = false; });
    }
    this.#stage.setPicture(tile.participant.participantId, video !== undefined);
    const cameraOff = !video || video.paused;
    const muted = audios.length === 0 || audios.every((a) => a.paused);
    const p = tile.participant;
    const root = tile.parts.root;
    root.classList.toggle('no-video', cameraOff);
    root.classList.toggle('muted', muted);
    root.classList.toggle('consent-withdrawn', p.consentWithdrawn);
    root.classList.toggle('reconnecting', p.reconnecting);
    const badge = tile.parts.badge;
    const allowed = this.#session.mediaAllowed;
    setText(badge, () => p.reconnecting ? t('badge.reconnecting') : p.consentWithdrawn ? t('badge.consentWithdrawn')
      : !allowed ? ''
        : [muted ? t('badge.muted') : '', cameraOff ? t('badge.cameraOff') : ''].filter(Boolean).join(' · '));
    badge.hidden = badge.textContent === '';
    // Clinicians (only they are sent it) see where the person is and whom to call.
    const loc = p.safety?.location;
    const contact = p.safety?.emergencyContact;
    setText(tile.safety, () => [
      loc ? t('tile.location', { place: loc.description, region: loc.region }) : '',
      contact ? t('tile.contact', { name: contact.name, phone: contact.phone }) : '',
    ].filter(Boolean).join(' · '));
    tile.safety.hidden = tile.safety.textContent === '';
  }

  async #toggle(source: 'mic' | 'camera'): Promise<void> {
    const enabled = this.#session.sourceEnabled(source);
    if (enabled === undefined) return;
    try {
      await this.#session.setSourceEnabled(source, !enabled);
    } catch {
      this.#notice(() => t(source === 'mic' ? 'call.toggleFailedMic' : 'call.toggleFailedCamera', { onOff: t(enabled ? 'call.off' : 'call.on') }));
    }
    this.#updateToggles();
  }

  #updateToggles(): void {
    const joined = this.#session.state === 'joined';
    for (const [button, source, on, off] of [
      [this.#micButton, 'mic', 'call.muteMic', 'call.unmuteMic'],
      [this.#cameraButton, 'camera', 'call.cameraOff', 'call.cameraOn'],
    ] as const) {
      const enabled = this.#session.sourceEnabled(source);
      button.hidden = enabled === undefined || this.#session.state !== 'joined';
      setText(button, () => t(enabled === false ? off : on));
      button.setAttribute('aria-pressed', String(enabled === false));
    }
    // Our own preview shows what the others see of us.
    const mic = this.#session.sourceEnabled('mic');
    const camera = this.#session.sourceEnabled('camera');
    const badge = this.#local.badge;
    setText(badge, () => joined ? [mic === false ? t('badge.muted') : '', camera === false ? t('badge.cameraOff') : ''].filter(Boolean).join(' · ') : '');
    badge.hidden = badge.textContent === '';
    this.#local.root.classList.toggle('no-video', camera === false);
  }
}

/** Sets a media element's tracks, touching srcObject only when they changed (avoids flicker). */
function setTracks(media: HTMLMediaElement, tracks: MediaStreamTrack[]): void {
  const current = media.srcObject instanceof MediaStream ? media.srcObject.getTracks() : [];
  if (current.length === tracks.length && current.every((t, i) => t === tracks[i])) return;
  media.srcObject = tracks.length > 0 ? new MediaStream(tracks) : null;
}
