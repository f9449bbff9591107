import { t } from './i18n/language.ts';
import { codeOf, messageOf } from './errors.ts';
import type { Emitter } from './emitter.ts';
import type { IcePath, InboundStat, OutboundStat, RemoteTrack } from './media-link.ts';
import type { MediaProblem } from './media-health.ts';
import type { TileQuality } from './quality.ts';
import type { ConsentInput, ConsentScope, Role, Source } from './protocol.ts';
import { ScreenShare } from './screen-share.ts';
import { mark } from './timeline.ts';
import { E2ee } from './e2ee.ts';
import { startE2ee } from './e2ee-session.ts';
import { SessionCore } from './session-core.ts';
import { connectAndJoin } from './session-join.ts';
import { wireSignalling } from './session-notifications.ts';
import { Superseded, type JoinOptions, type RemoteParticipant, type SessionEvents, type SessionState } from './session-types.ts';

export type { IcePath, InboundStat, MediaProblem, OutboundStat, RemoteTrack, TileQuality };
export type { JoinOptions, RemoteParticipant, SessionEvents, SessionState };

/**
 * One person's presence in a room: the signalling connection, the participants, our camera and
 * microphone, and the media link to the SFU (media-link.ts). Survives a signalling drop (resumes
 * with its resume token; joins afresh if the server's grace period ran out); ends with `leave()`
 * or an error state carrying the server's code.
 *
 * Its parts: session-core.ts (the state they share, teardown), session-join.ts (connecting and
 * joining, ROOM_ELSEWHERE), session-notifications.ts (the server's notifications),
 * session-resume.ts (resume and restore), session-media.ts (camera, microphone, screen, the media
 * link), roster.ts (the participants, the speaker), e2ee-session.ts (the E2EE wiring).
 */
export class Session {
  /** End-to-end encryption of this page's media (e2ee.ts): keys, rekeying, the safety code. */
  readonly e2ee: E2ee;
  readonly #core: SessionCore;

  /** `e2eeDebug`: the E2EE worker keeps replaced keys and tries them on new frames (tests only; docs/security.md). */
  constructor(opts: { e2eeDebug?: boolean } = {}) {
    this.e2ee = new E2ee({ debug: opts.e2eeDebug ?? false });
    this.e2ee.events.on('problem', (text) => console.info(`e2ee: ${text}`));
    this.#core = new SessionCore(this.e2ee);
  }

  get events(): Emitter<SessionEvents> { return this.#core.events; }
  get state(): SessionState { return this.#core.state; }
  get participantId(): string | undefined { return this.#core.joined?.participantId; }
  /**
   * The http(s) origin of the node the session joined (after any ROOM_ELSEWHERE redirect): the
   * panic channel connects there, where the room and its participant are. Undefined before a join.
   */
  get nodeOrigin(): string | undefined { return this.#core.nodeOrigin; }
  /** The room's dominant speaker as the server last named it (in the join response or since; undefined when nobody is). */
  get activeSpeaker(): string | undefined { return this.#core.roster.speaker?.participantId; }
  get role(): Role | undefined { return this.#core.joined?.role; }
  get identity(): string | undefined { return this.#core.joined?.identity; }
  get mediaAllowed(): boolean { return this.#core.media.allowed; }
  /** The token that resumes this participant after a drop or a reload (undefined when not joined). */
  get resumeToken(): string | undefined { return this.#core.joined?.resumeToken; }
  /** What stops media now (undefined when nothing is known to). */
  get mediaProblem(): MediaProblem | undefined { return this.#core.media.problem; }

  remoteParticipants(): RemoteParticipant[] {
    return this.#core.roster.list();
  }

  /** Whether we publish `source` and it is not paused (undefined when we do not publish it). */
  sourceEnabled(source: Source): boolean | undefined {
    return this.#core.media.link?.sourceEnabled(source);
  }

  async setSourceEnabled(source: Source, enabled: boolean): Promise<void> {
    await this.#core.media.link?.setSourceEnabled(source, enabled);
  }

  /** Whether the page may offer screen sharing now (joined, media allowed, `screen` in our publish permission, a browser that can). */
  get canShareScreen(): boolean {
    const core = this.#core;
    return core.state === 'joined' && core.media.allowed && ScreenShare.supported() && (core.joined?.permissions.publish.includes('screen') ?? false);
  }

  get sharingScreen(): boolean { return this.#core.media.screen.active; }

  /** Asks what to share and publishes it as source `screen` (docs/forwarding.md "Screen sharing"); throws a coded error. */
  async shareScreen(): Promise<void> {
    const link = this.#core.media.link;
    if (!link || !this.canShareScreen) return;
    await this.#core.media.screen.start(link);
  }

  async stopScreenShare(): Promise<void> {
    await this.#core.media.screen.stop();
  }

  inboundStats(): Promise<InboundStat[]> {
    return this.#core.media.link?.inboundStats() ?? Promise.resolve([]);
  }

  outboundStats(kind: 'audio' | 'video' = 'video'): Promise<OutboundStat[]> {
    return this.#core.media.link?.outboundStats(kind) ?? Promise.resolve([]);
  }

  /** The candidate pair each media transport uses now (relay: through TURN). */
  icePaths(): Promise<IcePath[]> {
    return this.#core.media.link?.icePaths() ?? Promise.resolve([]);
  }

  /** The person's Retry after a media problem: ICE restarted on both transports, checked again; new transports if still stuck 10 s later. */
  async retryMedia(): Promise<void> {
    await this.#core.media.retry();
  }

  /** How a consumer's tile is drawn: the server picks its layer, or pauses it when hidden. */
  async setViewport(consumerId: string, v: { width: number; height: number; visible: boolean }): Promise<void> {
    await this.#core.media.link?.setViewport(consumerId, v);
  }

  async join(opts: JoinOptions): Promise<void> {
    const core = this.#core;
    if (core.state === 'joining' || core.state === 'joined' || core.state === 'reconnecting') return;
    core.opts = opts;
    core.media.local.prefer(opts.devices);
    if (opts.media) core.media.local.adopt(opts.media);
    mark('join');
    core.setState('joining');
    await this.#attempt();
  }

  /** Leaves the room (tells the server, so the seat is free at once) and releases camera and mic. */
  async leave(): Promise<void> {
    const core = this.#core;
    if (core.state === 'idle') return;
    const sig = core.sig;
    if (sig?.connected) await sig.request('leave', {}, 3000).catch(() => undefined);
    core.teardown(true);
    core.setState('idle', 'left');
  }

  /** For page unload: sends leave without waiting for the answer. */
  leaveNow(): void {
    const sig = this.#core.sig;
    if (sig?.connected) sig.request('leave', {}, 1000).catch(() => undefined);
    this.#core.teardown(true);
  }

  /**
   * For page unload when the page may come back (a reload): closes everything without `leave`, so
   * the server holds the participant for its grace period and the next page resumes it.
   */
  suspendNow(): void {
    this.#core.suspended = true;
    this.#core.teardown(true);
  }

  /**
   * Withdraws consent (effective at once). Withdrawing `telehealth` makes the server close all our
   * media; we stay connected (and present to the others) until we leave.
   */
  async withdrawConsent(scopes: ConsentScope[]): Promise<void> {
    const core = this.#core;
    const sig = core.sig;
    if (!sig || core.state !== 'joined') return;
    const result = await sig.request('withdrawConsent', { scopes });
    core.forgetConsent(scopes);
    if (!result.mediaAllowed) core.media.stop();
  }

  /**
   * Consent given again after withdrawing it (docs/protocol.md "grantConsent"): recorded by the
   * server first; then our media is set up again, as after a join. Rejects with the server's code.
   */
  async grantConsent(consent: ConsentInput): Promise<void> {
    const core = this.#core;
    const sig = core.sig;
    if (!sig || core.state !== 'joined' || core.media.allowed) return;
    const gen = core.generation;
    const result = await sig.request('grantConsent', { consent });
    const joined = core.joined;
    if (gen !== core.generation || !joined || !result.mediaAllowed) return;
    core.media.allowed = true;
    if (core.opts) core.opts = { ...core.opts, consent };
    // While withdrawn our keys were refused (CONSENT_WITHDRAWN): everyone gets our current key again.
    this.e2ee.resendTo(core.roster.ids());
    core.events.emit('notice', () => t('notice.consentAgain'));
    // The consent stands (the server recorded it): a camera or connection problem now is said, not thrown.
    await core.media.setUp(sig, joined, gen).catch((err: unknown) => {
      if (gen === core.generation && !(err instanceof Superseded)) core.events.emit('notice', () => t('notice.setupFailed', { code: codeOf(err) }));
    });
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  /** Runs #start and settles the state: joined, or error:<CODE>. */
  async #attempt(): Promise<void> {
    try {
      await this.#start();
      this.#core.setState('joined');
    } catch (err) {
      if (!(err instanceof Superseded)) this.#core.fail(codeOf(err), messageOf(err));
    }
  }

  async #start(): Promise<void> {
    const core = this.#core;
    const opts = core.opts!;
    const gen = core.generation;
    const { sig, joined, origin } = await connectAndJoin(opts, {
      e2ee: this.e2ee,
      opened: (sig) => {
        core.sig = sig;
        wireSignalling(core, sig, gen, () => this.#attempt());
      },
      dropped: () => { core.sig = undefined; },
      check: () => core.check(gen),
    });
    core.nodeOrigin = origin;
    mark('admitted');
    core.joined = joined;
    // A session resumed after a reload may have withdrawn consent earlier: no media until it is given again.
    core.media.allowed = joined.consentScopes?.includes('telehealth') ?? true;
    for (const p of joined.participants) core.roster.add(p);
    core.roster.setSpeaker(joined.activeSpeaker);
    // Resumed from an earlier page of this tab: its transports (and their producers and consumers) are that page's, gone with it.
    if (joined.resumed) {
      await sig.closeTransports((joined.transports ?? []).map((t) => t.transportId));
      core.check(gen);
      // Only the first join of this session resumes; a later fresh join (the grace period ran out) is a new one.
      core.opts = { ...opts, resumeToken: undefined };
    }

    await startE2ee(this.e2ee, sig, joined);
    core.check(gen);
    await core.media.setUp(sig, joined, gen);
    core.check(gen);
    mark('joined');
  }
}
