import { t } from './i18n/language.ts';
import { Emitter } from './emitter.ts';
import { codeOf, messageOf } from './errors.ts';
import { LocalMedia } from './local-media.ts';
import { MediaLink, type IcePath, type InboundStat, type OutboundStat, type RemoteTrack } from './media-link.ts';
import type { MediaProblem } from './media-health.ts';
import { MediaCare } from './media-care.ts';
import type { TileQuality } from './quality.ts';
import { SignallingClient, SignallingError } from './signalling.ts';
import { nodeOriginOf, redirectUrl } from './redirect.ts';
import type { ConsentInput, ConsentScope, JoinResult, LocationInput, ParticipantInfo, Role, SafetyView, Source } from './protocol.ts';
import { ScreenShare } from './screen-share.ts';
import { mark } from './timeline.ts';
import { E2ee } from './e2ee.ts';

export type { IcePath, InboundStat, MediaProblem, OutboundStat, RemoteTrack, TileQuality };

export type SessionState = 'idle' | 'joining' | 'joined' | 'reconnecting' | `error:${string}`;

export interface RemoteParticipant {
  readonly participantId: string;
  readonly role: Role;
  /** Location, emergency contact and consent scopes: sent by the server to clinicians only. */
  readonly safety: SafetyView | undefined;
  /** They withdrew consent to the session by video: the server stopped their media. */
  readonly consentWithdrawn: boolean;
  /** Their connection is lost and the server keeps their session for its grace period (participantConnection). */
  readonly reconnecting: boolean;
}

export type SessionEvents = {
  /** The state changed; `detail` says more for errors (a server message or close reason). */
  state: [SessionState, string | undefined];
  /** Something the person should know that does not end the session. */
  /** Something the person should know, in words of the page's language when called. */
  notice: [() => string];
  /** Our own camera/microphone stream (undefined once released). */
  localMedia: [MediaStream | undefined];
  /** Our screen share's stream while we share (undefined once stopped). */
  localScreen: [MediaStream | undefined];
  participantJoined: [RemoteParticipant];
  /** A participant's safety facts, consent or connection changed. */
  participantUpdated: [RemoteParticipant];
  participantLeft: [string];
  trackAdded: [RemoteTrack];
  trackRemoved: [{ participantId: string; consumerId: string }];
  trackPaused: [{ participantId: string; consumerId: string; paused: boolean }];
  /** A panic alarm in the room (sent by the server to clinicians only); the same as /safety's panic:alert. */
  panicAlert: [Record<string, unknown>];
  /** The room's dominant speaker changed (a participant id: ours or a remote one; undefined: nobody, e.g. the speaker left). */
  activeSpeaker: [string | undefined];
  /**
   * The session moved to another node (its node was lost and the session was restored elsewhere,
   * docs/scaling.md "Node loss"): the new http(s) origin, where the panic channel must connect now.
   */
  nodeChanged: [string];
  /** A participant came back after the room's node was lost (their records stand; no new consent). */
  participantRestored: [RemoteParticipant];
  /**
   * Media cannot connect (a coded MediaProblem, media-health.ts), or undefined once it can again:
   * the page shows what to try and a Retry; the code is what the operator logs.
   */
  mediaProblem: [MediaProblem | undefined];
  /** Every few seconds: each remote participant's connection quality (those with media that should arrive). */
  quality: [TileQuality[]];
};

export interface JoinOptions {
  /** ws(s)://host/rtc?token=...[&room=...] */
  readonly url: string;
  readonly displayName?: string;
  /** Required by the server on every new join (not on a resume). */
  readonly consent?: ConsentInput;
  readonly location?: LocationInput;
  /**
   * 'relay': media only through the TURN server of the join response (no direct path is tried).
   * For networks where only the TURN server is reachable, and to check a TURN deployment.
   */
  readonly iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * The pre-join preview (prejoin.ts): becomes the session's camera and microphone, so the devices
   * chosen there are the ones published. Released like any capture (leave, failure, withdrawal).
   */
  readonly media?: MediaStream;
  /** The devices chosen before joining: used whenever the session captures again. */
  readonly devices?: { readonly audio?: string; readonly video?: string };
  /**
   * A resume token of this tab's earlier page (a reload within the grace period): the join resumes
   * that participant (same id, no consent again) and rebuilds its media; RESUME_TOKEN_INVALID otherwise.
   */
  readonly resumeToken?: string;
}

/** Redirects (ROOM_ELSEWHERE) followed for one join before giving up: a room can be re-placed once between two joins. */
const MAX_REDIRECTS = 2;

/** Thrown inside an attempt that a newer one (or leave) replaced; never shown. */
class Superseded extends Error {}

/**
 * One person's presence in a room: the signalling connection, the participants, our camera and
 * microphone, and the media link to the SFU (media-link.ts). Survives a signalling drop (resumes
 * with its resume token; joins afresh if the server's grace period ran out); ends with `leave()`
 * or an error state carrying the server's code.
 */
export class Session {
  readonly events = new Emitter<SessionEvents>();
  #state: SessionState = 'idle';
  #opts: JoinOptions | undefined;
  #sig: SignallingClient | undefined;
  #joined: JoinResult | undefined;
  #nodeOrigin: string | undefined;
  #link: MediaLink | undefined;
  /** Watches #link (transports that do not connect, media that does not arrive) and runs Try again. */
  #care: MediaCare<MediaLink> | undefined;
  readonly #remotes = new Map<string, RemoteParticipant>();
  readonly #local = new LocalMedia((stream) => this.events.emit('localMedia', stream), (text) => this.events.emit('notice', text));
  readonly #screen = new ScreenShare((stream) => this.events.emit('localScreen', stream));
  /** False once we withdrew consent to the session by video: no media either way. */
  #mediaAllowed = true;
  /** Bumped on every teardown: callbacks of an older attempt see a different number and stop. */
  #generation = 0;
  /** The dominant speaker and its producer (from the join response or activeSpeaker). */
  #speaker: { participantId: string; producerId: string } | undefined;
  /** End-to-end encryption of this page's media (e2ee.ts): keys, rekeying, the safety code. */
  readonly e2ee: E2ee;
  /** suspendNow() ran: the page is going away to come back (a reload). */
  #suspended = false;

  /** `e2eeDebug`: the E2EE worker keeps replaced keys and tries them on new frames (tests only; docs/security.md). */
  constructor(opts: { e2eeDebug?: boolean } = {}) {
    this.e2ee = new E2ee({ debug: opts.e2eeDebug ?? false });
    this.e2ee.events.on('problem', (text) => console.info(`e2ee: ${text}`));
  }

  get state(): SessionState { return this.#state; }
  get participantId(): string | undefined { return this.#joined?.participantId; }
  /**
   * The http(s) origin of the node the session joined (after any ROOM_ELSEWHERE redirect): the
   * panic channel connects there, where the room and its participant are. Undefined before a join.
   */
  get nodeOrigin(): string | undefined { return this.#nodeOrigin; }
  /** The room's dominant speaker as the server last named it (in the join response or since; undefined when nobody is). */
  get activeSpeaker(): string | undefined { return this.#speaker?.participantId; }
  get role(): Role | undefined { return this.#joined?.role; }
  get identity(): string | undefined { return this.#joined?.identity; }
  get mediaAllowed(): boolean { return this.#mediaAllowed; }
  /** The token that resumes this participant after a drop or a reload (undefined when not joined). */
  get resumeToken(): string | undefined { return this.#joined?.resumeToken; }
  /** What stops media now (undefined when nothing is known to). */
  get mediaProblem(): MediaProblem | undefined { return this.#care?.health.problem; }

  remoteParticipants(): RemoteParticipant[] {
    return [...this.#remotes.values()];
  }

  /** Whether we publish `source` and it is not paused (undefined when we do not publish it). */
  sourceEnabled(source: Source): boolean | undefined {
    return this.#link?.sourceEnabled(source);
  }

  async setSourceEnabled(source: Source, enabled: boolean): Promise<void> {
    await this.#link?.setSourceEnabled(source, enabled);
  }

  /** Whether the page may offer screen sharing now (joined, media allowed, `screen` in our publish permission, a browser that can). */
  get canShareScreen(): boolean {
    return this.#state === 'joined' && this.#mediaAllowed && ScreenShare.supported() && (this.#joined?.permissions.publish.includes('screen') ?? false);
  }

  get sharingScreen(): boolean { return this.#screen.active; }

  /** Asks what to share and publishes it as source `screen` (docs/forwarding.md "Screen sharing"); throws a coded error. */
  async shareScreen(): Promise<void> {
    if (!this.#link || !this.canShareScreen) return;
    await this.#screen.start(this.#link);
  }

  async stopScreenShare(): Promise<void> {
    await this.#screen.stop();
  }

  inboundStats(): Promise<InboundStat[]> {
    return this.#link?.inboundStats() ?? Promise.resolve([]);
  }

  outboundStats(kind: 'audio' | 'video' = 'video'): Promise<OutboundStat[]> {
    return this.#link?.outboundStats(kind) ?? Promise.resolve([]);
  }

  /** The candidate pair each media transport uses now (relay: through TURN). */
  icePaths(): Promise<IcePath[]> {
    return this.#link?.icePaths() ?? Promise.resolve([]);
  }

  /** The person's Retry after a media problem: ICE restarted on both transports, checked again; new transports if still stuck 10 s later. */
  async retryMedia(): Promise<void> {
    await this.#care?.retry();
  }

  /** How a consumer's tile is drawn: the server picks its layer, or pauses it when hidden. */
  async setViewport(consumerId: string, v: { width: number; height: number; visible: boolean }): Promise<void> {
    await this.#link?.setViewport(consumerId, v);
  }

  async join(opts: JoinOptions): Promise<void> {
    if (this.#state === 'joining' || this.#state === 'joined' || this.#state === 'reconnecting') return;
    this.#opts = opts;
    this.#local.prefer(opts.devices);
    if (opts.media) this.#local.adopt(opts.media);
    mark('join');
    this.#setState('joining');
    await this.#attempt();
  }

  /** Leaves the room (tells the server, so the seat is free at once) and releases camera and mic. */
  async leave(): Promise<void> {
    if (this.#state === 'idle') return;
    const sig = this.#sig;
    if (sig?.connected) await sig.request('leave', {}, 3000).catch(() => undefined);
    this.#teardown(true);
    this.#setState('idle', 'left');
  }

  /** For page unload: sends leave without waiting for the answer. */
  leaveNow(): void {
    const sig = this.#sig;
    if (sig?.connected) sig.request('leave', {}, 1000).catch(() => undefined);
    this.#teardown(true);
  }

  /**
   * For page unload when the page may come back (a reload): closes everything without `leave`, so
   * the server holds the participant for its grace period and the next page resumes it.
   */
  suspendNow(): void {
    this.#suspended = true;
    this.#teardown(true);
  }

  /**
   * Withdraws consent (effective at once). Withdrawing `telehealth` makes the server close all our
   * media; we stay connected (and present to the others) until we leave.
   */
  async withdrawConsent(scopes: ConsentScope[]): Promise<void> {
    const sig = this.#sig;
    if (!sig || this.#state !== 'joined') return;
    const result = await sig.request('withdrawConsent', { scopes });
    this.#forgetConsent(scopes);
    if (!result.mediaAllowed) this.#stopMedia();
  }

  /**
   * Consent given again after withdrawing it (docs/protocol.md "grantConsent"): recorded by the
   * server first; then our media is set up again, as after a join. Rejects with the server's code.
   */
  async grantConsent(consent: ConsentInput): Promise<void> {
    const sig = this.#sig;
    if (!sig || this.#state !== 'joined' || this.#mediaAllowed) return;
    const gen = this.#generation;
    const result = await sig.request('grantConsent', { consent });
    const joined = this.#joined;
    if (gen !== this.#generation || !joined || !result.mediaAllowed) return;
    this.#mediaAllowed = true;
    if (this.#opts) this.#opts = { ...this.#opts, consent };
    // While withdrawn our keys were refused (CONSENT_WITHDRAWN): everyone gets our current key again.
    this.e2ee.resendTo([...this.#remotes.keys()]);
    this.events.emit('notice', () => t('notice.consentAgain'));
    // The consent stands (the server recorded it): a camera or connection problem now is said, not thrown.
    await this.#setUpMedia(sig, joined, gen).catch((err: unknown) => {
      if (gen === this.#generation && !(err instanceof Superseded)) this.events.emit('notice', () => t('notice.setupFailed', { code: codeOf(err) }));
    });
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  /** Runs #start and settles the state: joined, or error:<CODE>. */
  async #attempt(): Promise<void> {
    try {
      await this.#start();
      this.#setState('joined');
    } catch (err) {
      if (!(err instanceof Superseded)) this.#fail(codeOf(err), messageOf(err));
    }
  }

  async #start(): Promise<void> {
    const opts = this.#opts!;
    const gen = this.#generation;
    const { sig, joined } = await this.#connectAndJoin(opts, gen);
    mark('admitted');
    this.#joined = joined;
    // A session resumed after a reload may have withdrawn consent earlier: no media until it is given again.
    this.#mediaAllowed = joined.consentScopes?.includes('telehealth') ?? true;
    for (const p of joined.participants) this.#addRemote(p);
    this.#setSpeaker(joined.activeSpeaker);
    // Resumed from an earlier page of this tab: its transports (and their producers and consumers) are that page's, gone with it.
    if (joined.resumed) {
      for (const t of joined.transports ?? []) await sig.request('closeTransport', { transportId: t.transportId }).catch(() => undefined);
      this.#check(gen);
      // Only the first join of this session resumes; a later fresh join (the grace period ran out) is a new one.
      this.#opts = { ...opts, resumeToken: undefined };
    }

    await this.#startE2ee(sig, joined);
    this.#check(gen);
    await this.#setUpMedia(sig, joined, gen);
    this.#check(gen);
    mark('joined');
  }

  /** The room's E2EE state from the join response: keys made and sent before any media is set up. */
  async #startE2ee(sig: SignallingClient, joined: JoinResult): Promise<void> {
    await this.e2ee.start({
      room: joined.roomId,
      self: joined.participantId,
      view: joined.e2ee,
      send: (epoch, keys) => sig.request('e2eeKeys', { epoch, keys }),
    });
  }

  /**
   * Opens signalling and joins; a join answered ROOM_ELSEWHERE (the room is hosted by another node,
   * docs/protocol.md "Joining through any node") is sent again, with the same token and data, on
   * that node's /rtc: at most MAX_REDIRECTS times, then TOO_MANY_REDIRECTS.
   */
  async #connectAndJoin(opts: JoinOptions, gen: number) {
    let url = opts.url;
    for (let redirects = 0; ; redirects++) {
      // After a redirect, reconnection falls back to the entry point (opts.url): the node may be gone.
      const sig = new SignallingClient({ url, fallbackUrl: url === opts.url ? undefined : opts.url });
      this.#sig = sig;
      this.#wireSignalling(sig, gen);
      await sig.connect();
      this.#check(gen);
      mark('connected');
      try {
        // Our E2EE public key, when this browser can encrypt frames (the server decides whether the room is encrypted).
        const publicKey = await this.e2ee.publicKey(opts.resumeToken !== undefined);
        const e2ee = publicKey ? { e2ee: { publicKey } } : {};
        const joined = await sig.request('join', opts.resumeToken
          ? { resumeToken: opts.resumeToken, ...(opts.displayName ? { displayName: opts.displayName } : {}), ...e2ee }
          : {
            ...(opts.displayName ? { displayName: opts.displayName } : {}),
            ...(opts.consent ? { consent: opts.consent } : {}),
            ...(opts.location ? { location: opts.location } : {}),
            ...e2ee,
          });
        this.#check(gen);
        this.#nodeOrigin = this.#hostedAt(sig, joined);
        return { sig, joined };
      } catch (err) {
        const next = err instanceof SignallingError && err.code === 'ROOM_ELSEWHERE' ? redirectUrl(url, err.data?.url) : undefined;
        if (!next) throw err;
        // This socket is done with; its close is not the session's end (the handler checks #sig).
        this.#sig = undefined;
        sig.close();
        this.#check(gen);
        if (redirects >= MAX_REDIRECTS) throw new SignallingError('TOO_MANY_REDIRECTS', `the session's server changed ${redirects + 1} times while joining`);
        mark('redirected');
        url = next;
      }
    }
  }

  /**
   * The origin of the node hosting the session: the one the join response names (several nodes
   * behind a load balancer), where reconnections then go first; else the one signalling reached.
   */
  #hostedAt(sig: SignallingClient, joined: JoinResult): string {
    const direct = joined.nodeUrl ? redirectUrl(sig.url, joined.nodeUrl) : undefined;
    if (!direct) return nodeOriginOf(sig.url);
    sig.preferUrl(direct);
    return nodeOriginOf(direct);
  }

  #wireSignalling(sig: SignallingClient, gen: number): void {
    const live = () => gen === this.#generation;
    sig.onNotification('participantJoined', (d) => {
      if (!live()) return;
      this.#addRemote({ ...d, producers: [] });
      this.e2ee.peerJoined(d.participantId, d.publicKey);
      const back = d.restored ? this.#remotes.get(d.participantId) : undefined;
      if (back) this.events.emit('participantRestored', back);
    });
    sig.onNotification('participantLeft', (d) => live() && this.#removeRemote(d.participantId));
    sig.onNotification('e2eeKey', (d) => { if (live()) void this.e2ee.keyReceived(d.from, d.epoch, d.blob); });
    sig.onNotification('e2eeRekey', (d) => { if (live()) void this.e2ee.rekey(d.recipients); });
    sig.onNotification('locationUpdated', (d) => {
      const r = live() ? this.#remotes.get(d.participantId) : undefined;
      if (r) this.#updateRemote({ ...r, safety: { consentScopes: r.safety?.consentScopes ?? [], location: d.location, emergencyContact: d.emergencyContact } });
    });
    sig.onNotification('consentWithdrawn', (d) => {
      if (!live()) return;
      if (d.participantId === this.participantId) {
        this.#forgetConsent(d.scopes);
        if (d.scopes.includes('telehealth')) this.#stopMedia();
        return;
      }
      const r = this.#remotes.get(d.participantId);
      if (!r) return;
      this.#updateRemote({
        ...r,
        safety: r.safety ? { ...r.safety, consentScopes: r.safety.consentScopes.filter((s) => !d.scopes.includes(s)) } : undefined,
        consentWithdrawn: r.consentWithdrawn || d.scopes.includes('telehealth'),
      });
    });
    sig.onNotification('consentGranted', (d) => {
      const r = live() ? this.#remotes.get(d.participantId) : undefined;
      if (!r) return;
      if (d.scopes.includes('telehealth')) this.e2ee.consentGranted(d.participantId);
      const scopes = [...new Set([...(r.safety?.consentScopes ?? []), ...d.scopes])];
      this.#updateRemote({ ...r, safety: r.safety ? { ...r.safety, consentScopes: scopes } : undefined, consentWithdrawn: r.consentWithdrawn && !d.scopes.includes('telehealth') });
    });
    sig.onNotification('participantConnection', (d) => {
      const r = live() ? this.#remotes.get(d.participantId) : undefined;
      if (r) this.#updateRemote({ ...r, reconnecting: d.state === 'reconnecting' });
      // Back after a drop: keys sent while their socket was down were refused.
      if (r && d.state !== 'reconnecting') this.e2ee.resendTo([d.participantId]);
    });
    sig.onNotification('newConsumer', (d) => live() && this.#mediaAllowed && this.#link?.offer(d));
    sig.onNotification('consumerClosed', (d) => live() && this.#link?.closeConsumer(d.consumerId));
    sig.onNotification('consumerPaused', (d) => live() && this.#link?.consumerPaused(d.consumerId, true));
    sig.onNotification('consumerResumed', (d) => live() && this.#link?.consumerPaused(d.consumerId, false));
    sig.onNotification('layersNeeded', (d) => live() && this.#link?.layersNeeded(d.producerId, d.spatialLayers));
    sig.onNotification('producerClosed', (d) => {
      if (live() && d.producerId === this.#speaker?.producerId) this.#setSpeaker(undefined);
      if (!live() || d.participantId !== this.participantId) return;
      const source = this.#link?.producerClosed(d.producerId);
      if (source === 'screen') void this.#screen.stop();
      if (source) this.events.emit('notice', () => t(source === 'mic' ? 'notice.stoppedMic' : source === 'camera' ? 'notice.stoppedCamera' : 'notice.stoppedScreen'));
    });
    sig.onNotification('serverDraining', (d) => live() && this.events.emit('notice', () => t('notice.draining', { seconds: d.deadlineSeconds })));
    sig.onNotification('panicAlert', (d) => live() && this.events.emit('panicAlert', d));
    sig.onNotification('activeSpeaker', (d) => live() && this.#setSpeaker(d));
    sig.onNotification('roomClosed', (d) => live() && this.#fail('ROOM_CLOSED', d.reason));
    sig.onNotification('kicked', (d) => live() && this.#fail('KICKED', d.reason));
    sig.events.on('disconnected', () => live() && this.#state === 'joined' && this.#setState('reconnecting'));
    sig.events.on('reconnected', () => { if (live()) void this.#resume(sig, gen); });
    sig.events.on('closed', ({ errorCode, reason }) => {
      if (live() && this.#sig === sig && this.#state !== 'idle' && !this.#state.startsWith('error:')) this.#fail(errorCode, reason);
    });
  }

  /**
   * The socket is back: resume the participant, or join afresh when the grace period ran out. A
   * resume answered ROOM_ELSEWHERE (the room's node was lost and the room placed on another one)
   * is sent again there; a session restored on another node sets up its media again.
   */
  async #resume(sig: SignallingClient, gen: number): Promise<void> {
    const resumeToken = this.#joined?.resumeToken;
    if (!resumeToken) return;
    try {
      const displayName = this.#opts?.displayName;
      const joined = await sig.request('join', { resumeToken, ...(displayName ? { displayName } : {}) });
      if (gen !== this.#generation) return;
      this.#joined = joined;
      const present = new Set(joined.participants.map((p) => p.participantId));
      const away = [...this.#remotes.keys()].filter((id) => !present.has(id));
      for (const id of away) this.#removeRemote(id);
      for (const p of joined.participants) {
        const known = this.#remotes.get(p.participantId);
        if (!known) this.#addRemote(p);
        else this.#updateRemote({ ...known, reconnecting: p.reconnecting === true, ...(p.safety ? { safety: p.safety, consentWithdrawn: !p.safety.consentScopes.includes('telehealth') } : {}) });
      }
      this.#setSpeaker(joined.activeSpeaker);
      // Keys sent to us while our socket was down were lost, and we may have missed joins: every peer gets our key again.
      for (const p of joined.e2ee?.peers ?? []) this.e2ee.peerJoined(p.participantId, p.publicKey);
      this.e2ee.resendTo(joined.participants.map((p) => p.participantId));
      if (joined.restored && away.length > 0) {
        const n = away.length;
        this.events.emit('notice', () => t('notice.notBack', { n }));
      }
      sig.settled();
      const origin = this.#hostedAt(sig, joined);
      if (origin !== this.#nodeOrigin) {
        this.#nodeOrigin = origin;
        this.events.emit('nodeChanged', origin);
      }
      if (joined.restored) {
        mark('restored');
        this.events.emit('notice', () => t('notice.moved'));
        await this.#setUpMedia(sig, joined, gen);
      } else {
        this.#link?.restartStalledIce();
      }
      this.#setState('joined');
    } catch (err) {
      if (gen !== this.#generation || err instanceof Superseded) return;
      const code = codeOf(err);
      console.info(`session: resume answered ${code}`);
      // Dropped again mid-resume: the signalling client reconnects (and we resume) or gives up.
      if (code === 'CONNECTION_LOST' || code === 'NOT_CONNECTED') return;
      const next = code === 'ROOM_ELSEWHERE' && err instanceof SignallingError ? redirectUrl(sig.url, err.data?.url) : undefined;
      if (next) {
        mark('redirected');
        sig.moveTo(next);
        return;
      }
      if (code !== 'RESUME_TOKEN_INVALID') {
        this.#fail(code, messageOf(err));
        return;
      }
      this.events.emit('notice', () => t('notice.rejoining'));
      this.#teardown(false);
      this.#setState('joining');
      await this.#attempt();
    }
  }

  /** A media link for this join (a restored session's old one is closed first): receive, and publish what we may. */
  async #setUpMedia(sig: SignallingClient, joined: JoinResult, gen: number): Promise<void> {
    this.#closeLink();
    const link = new MediaLink(sig, { iceServers: joined.iceServers, iceTransportPolicy: this.#opts?.iceTransportPolicy, transforms: this.e2ee.transforms });
    this.#link = link;
    this.#watchHealth(link);
    link.events.on('trackAdded', (t) => this.events.emit('trackAdded', t));
    link.events.on('trackRemoved', (t) => this.events.emit('trackRemoved', t));
    link.events.on('trackPaused', (t) => this.events.emit('trackPaused', t));
    link.events.on('notice', (text) => this.events.emit('notice', text));
    if (!this.#mediaAllowed) return;
    const sources = joined.permissions.publish.filter((s): s is 'mic' | 'camera' => s === 'mic' || s === 'camera');
    const media = sources.length > 0 ? this.#local.acquire(sources, () => gen === this.#generation || !(this.#state === 'idle' || this.#state.startsWith('error:'))) : Promise.resolve(undefined);
    await link.load(joined.routerRtpCapabilities);
    this.#check(gen);
    await Promise.all([
      joined.permissions.subscribe ? link.openRecv() : undefined,
      media.then((stream) => {
        mark('media-captured');
        return stream && !link.closed ? link.publish(stream, joined.videoPublishing) : undefined;
      }),
    ]);
    // A screen still shared from before a re-join or a restore: published again on this link.
    await this.#screen.publish(link).catch((err: unknown) => this.events.emit('notice', () => t('screen.failedAgain', { code: codeOf(err) })));
  }

  #watchHealth(link: MediaLink): void {
    this.#care = new MediaCare(link, {
      sig: () => this.#sig,
      problem: (problem) => this.events.emit('mediaProblem', problem), quality: (list) => this.events.emit('quality', list),
      rebuild: (old) => this.#rebuildMedia(old),
    });
  }

  /** Try again did not connect `old`: the server closes its transports, and a new link (the same camera and mic) replaces it. */
  async #rebuildMedia(old: MediaLink): Promise<void> {
    const [sig, gen] = [this.#sig, this.#generation];
    if (!sig?.connected || !this.#joined || this.#link !== old) return;
    await Promise.all(old.transportIds().map((transportId) => sig.request('closeTransport', { transportId }).catch(() => undefined)));
    // Re-checked after the await: a resume, a teardown or another rebuild may have replaced the link.
    if (gen !== this.#generation || this.#link !== old || this.#sig !== sig || !this.#joined) return;
    await this.#setUpMedia(sig, { ...this.#joined, iceServers: old.iceServers }, gen);
  }

  /** Closes the media link and stops watching it (a problem shown is cleared). */
  #closeLink(): void {
    const care = this.#care;
    this.#care = undefined;
    if (care) {
      const shown = care.health.problem;
      care.stop();
      if (shown) this.events.emit('mediaProblem', undefined);
    }
    this.#link?.close();
    this.#link = undefined;
  }

  #fail(code: string, detail?: string): void {
    this.#teardown(true);
    this.#setState(`error:${code}`, detail);
  }

  /** Ends the current attempt: signalling, media link, participants; camera and mic too if `releaseLocal`. */
  #teardown(releaseLocal: boolean): void {
    this.#generation++;
    // The peers go with the attempt (a re-join gets them again), without "the code changed" for each.
    this.e2ee.clearPeers();
    const sig = this.#sig;
    this.#sig = undefined;
    sig?.close();
    this.#closeLink();
    for (const id of [...this.#remotes.keys()]) this.#removeRemote(id);
    this.#joined = undefined;
    this.#speaker = undefined;
    if (releaseLocal) {
      this.#local.release();
      void this.#screen.stop();
      // Suspended for a reload: the identity kept for the next page stays (e2ee-identity-store.ts).
      this.e2ee.stop({ keepIdentity: this.#suspended });
    }
  }

  #check(gen: number): void {
    if (gen !== this.#generation) throw new Superseded('superseded');
  }

  #setState(state: SessionState, detail?: string): void {
    this.#state = state;
    this.events.emit('state', state, detail);
  }

  // ---- participants and consent ------------------------------------------------------------

  #addRemote(p: ParticipantInfo): void {
    if (p.participantId === this.participantId || this.#remotes.has(p.participantId)) return;
    const withdrawn = p.safety !== undefined && !p.safety.consentScopes.includes('telehealth');
    const remote: RemoteParticipant = { participantId: p.participantId, role: p.role, safety: p.safety, consentWithdrawn: withdrawn, reconnecting: p.reconnecting === true };
    this.#remotes.set(p.participantId, remote);
    this.events.emit('participantJoined', remote);
  }

  #updateRemote(remote: RemoteParticipant): void {
    this.#remotes.set(remote.participantId, remote);
    this.events.emit('participantUpdated', remote);
  }

  #removeRemote(participantId: string): void {
    this.#link?.closeConsumersOf(participantId);
    // Their safety facts (location, emergency contact) are not kept once they are gone: not even in the join response.
    const joined = this.#joined;
    if (joined?.participants.some((p) => p.participantId === participantId)) {
      this.#joined = { ...joined, participants: joined.participants.filter((p) => p.participantId !== participantId) };
    }
    if (this.#remotes.delete(participantId)) this.events.emit('participantLeft', participantId);
    if (participantId === this.#speaker?.participantId) this.#setSpeaker(undefined);
    this.e2ee.peerLeft(participantId);
  }

  /** The server named the room's dominant speaker (a join response, or activeSpeaker); undefined: it left, or closed that microphone. */
  #setSpeaker(speaker: { participantId: string; producerId: string } | undefined): void {
    const before = this.#speaker?.participantId;
    this.#speaker = speaker ? { participantId: speaker.participantId, producerId: speaker.producerId } : undefined;
    if (speaker?.participantId !== before) this.events.emit('activeSpeaker', speaker?.participantId);
  }

  /** A withdrawn scope is never sent again by itself (say, when a session has to be re-joined). */
  #forgetConsent(scopes: readonly string[]): void {
    const opts = this.#opts;
    if (!opts?.consent) return;
    const kept = opts.consent.scopes.filter((s) => !scopes.includes(s));
    this.#opts = { ...opts, consent: kept.includes('telehealth') ? { ...opts.consent, scopes: kept } : undefined };
  }

  /** Our consent to video was withdrawn: the server closed our transports; release everything. */
  #stopMedia(): void {
    if (!this.#mediaAllowed) return;
    this.#mediaAllowed = false;
    this.#closeLink();
    this.#local.release();
    void this.#screen.stop();
    this.events.emit('notice', () => t('notice.consentWithdrawn'));
  }
}
