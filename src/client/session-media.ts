import { t } from './i18n/language.ts';
import type { Emitter } from './emitter.ts';
import { codeOf } from './errors.ts';
import type { E2ee } from './e2ee.ts';
import { LocalMedia } from './local-media.ts';
import { MediaCare } from './media-care.ts';
import type { MediaProblem } from './media-health.ts';
import { MediaLink } from './media-link.ts';
import type { JoinResult } from './protocol.ts';
import { ScreenShare } from './screen-share.ts';
import type { SignallingClient } from './signalling.ts';
import { mark } from './timeline.ts';
import { Superseded, type JoinOptions, type SessionEvents, type SessionState } from './session-types.ts';

/** What the session's media needs to know of the session (session-core.ts). */
export interface MediaHost {
  readonly events: Emitter<SessionEvents>;
  readonly e2ee: E2ee;
  readonly sig: SignallingClient | undefined;
  readonly joined: JoinResult | undefined;
  readonly opts: JoinOptions | undefined;
  readonly state: SessionState;
  /** Bumped on every teardown (session-core.ts). */
  readonly generation: number;
}

/**
 * The session's media: our camera and microphone (kept across re-joins and restores), our screen
 * share, and the media link to the SFU with its health checks and Try again (media-care.ts).
 */
export class SessionMedia {
  readonly #host: MediaHost;
  readonly local: LocalMedia;
  readonly screen: ScreenShare;
  /** False once we withdrew consent to the session by video: no media either way. */
  allowed = true;
  #link: MediaLink | undefined;
  /** Watches #link (transports that do not connect, media that does not arrive) and runs Try again. */
  #care: MediaCare<MediaLink> | undefined;

  constructor(host: MediaHost) {
    this.#host = host;
    this.local = new LocalMedia((stream) => host.events.emit('localMedia', stream), (text) => host.events.emit('notice', text));
    this.screen = new ScreenShare((stream) => host.events.emit('localScreen', stream));
  }

  get link(): MediaLink | undefined { return this.#link; }
  /** What stops media now (undefined when nothing is known to). */
  get problem(): MediaProblem | undefined { return this.#care?.health.problem; }

  /** The person's Retry after a media problem: ICE restarted on both transports, checked again; new transports if still stuck 10 s later. */
  async retry(): Promise<void> {
    await this.#care?.retry();
  }

  /** A media link for this join (a restored session's old one is closed first): receive, and publish what we may. */
  async setUp(sig: SignallingClient, joined: JoinResult, gen: number): Promise<void> {
    const host = this.#host;
    this.close();
    const link = new MediaLink(sig, { iceServers: joined.iceServers, iceTransportPolicy: host.opts?.iceTransportPolicy, transforms: host.e2ee.transforms });
    this.#link = link;
    this.#watchHealth(link);
    link.events.on('trackAdded', (t) => host.events.emit('trackAdded', t));
    link.events.on('trackRemoved', (t) => host.events.emit('trackRemoved', t));
    link.events.on('trackPaused', (t) => host.events.emit('trackPaused', t));
    link.events.on('notice', (text) => host.events.emit('notice', text));
    if (!this.allowed) return;
    const sources = joined.permissions.publish.filter((s): s is 'mic' | 'camera' => s === 'mic' || s === 'camera');
    const media = sources.length > 0 ? this.local.acquire(sources, () => gen === host.generation || !(host.state === 'idle' || host.state.startsWith('error:'))) : Promise.resolve(undefined);
    await link.load(joined.routerRtpCapabilities);
    if (gen !== host.generation) throw new Superseded('superseded');
    await Promise.all([
      joined.permissions.subscribe ? link.openRecv() : undefined,
      media.then((stream) => {
        mark('media-captured');
        return stream && !link.closed ? link.publish(stream, joined.videoPublishing) : undefined;
      }),
    ]);
    // A screen still shared from before a re-join or a restore: published again on this link.
    await this.screen.publish(link).catch((err: unknown) => host.events.emit('notice', () => t('screen.failedAgain', { code: codeOf(err) })));
  }

  #watchHealth(link: MediaLink): void {
    const events = this.#host.events;
    this.#care = new MediaCare(link, {
      sig: () => this.#host.sig,
      problem: (problem) => events.emit('mediaProblem', problem), quality: (list) => events.emit('quality', list),
      rebuild: (old) => this.#rebuild(old),
    });
  }

  /** Try again did not connect `old`: the server closes its transports, and a new link (the same camera and mic) replaces it. */
  async #rebuild(old: MediaLink): Promise<void> {
    const host = this.#host;
    const [sig, gen] = [host.sig, host.generation];
    if (!sig?.connected || !host.joined || this.#link !== old) return;
    await sig.closeTransports(old.transportIds());
    // Re-checked after the await: a resume, a teardown or another rebuild may have replaced the link.
    if (gen !== host.generation || this.#link !== old || host.sig !== sig || !host.joined) return;
    await this.setUp(sig, { ...host.joined, iceServers: old.iceServers }, gen);
  }

  /** Closes the media link and stops watching it (a problem shown is cleared). */
  close(): void {
    const care = this.#care;
    this.#care = undefined;
    if (care) {
      const shown = care.health.problem;
      care.stop();
      if (shown) this.#host.events.emit('mediaProblem', undefined);
    }
    this.#link?.close();
    this.#link = undefined;
  }

  /** Camera, microphone and screen share released (leave, failure, withdrawal). */
  release(): void {
    this.local.release();
    void this.screen.stop();
  }

  /** Our consent to video was withdrawn: the server closed our transports; release everything. */
  stop(): void {
    if (!this.allowed) return;
    this.allowed = false;
    this.close();
    this.release();
    this.#host.events.emit('notice', () => t('notice.consentWithdrawn'));
  }
}
