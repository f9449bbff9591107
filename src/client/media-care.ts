import { MediaHealth, type MediaProblem, type WatchedLink } from './media-health.ts';
import { QualityMeter, type TileQuality } from './quality.ts';

/** How long after Try again a transport that still is not connected gets the media link rebuilt. */
export const REBUILD_AFTER_MS = 10_000;

/** What MediaCare reads of a media link (media-link.ts's MediaLink). */
export interface CaredLink extends WatchedLink {
  readonly closed: boolean;
}

/** What MediaCare uses of the signalling client (signalling.ts): the problem report. */
export interface ProblemReporter {
  readonly connected: boolean;
  request(method: 'reportMediaProblem', data: { code: string; direction: 'send' | 'recv'; cleared?: boolean }, timeoutMs?: number): Promise<unknown>;
}

export interface MediaCareOptions<L extends CaredLink> {
  /** The session's signalling now (problems are reported to the server through it). */
  sig(): ProblemReporter | undefined;
  problem(problem: MediaProblem | undefined): void;
  quality(list: TileQuality[]): void;
  /** Closes the link's transports on the server and sets a new link up (the same camera and mic). */
  rebuild(link: L): Promise<void>;
  rebuildAfterMs?: number;
}

/**
 * Looks after one media link: its MediaHealth (problems logged by code, reported to the server with
 * reportMediaProblem, and emitted; stats samples turned into tile quality) and the person's Try
 * again: an ICE restart on both transports, then, if a transport of this link is still not
 * connected `rebuildAfterMs` later, a rebuilt link. Stopped with the link (a pending rebuild too).
 */
export class MediaCare<L extends CaredLink> {
  readonly health: MediaHealth;
  readonly #link: L;
  readonly #opts: MediaCareOptions<L>;
  #rebuildTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(link: L, opts: MediaCareOptions<L>) {
    this.#link = link;
    this.#opts = opts;
    this.health = new MediaHealth(link);
    const meter = new QualityMeter();
    let reported: MediaProblem | undefined;
    this.health.events.on('problem', (problem) => {
      // The code only: never a token, a name or an address.
      console.info(problem ? `media problem ${problem.code} (${problem.direction})` : 'media problem cleared');
      // The operator's log has it too (reportMediaProblem); best effort, never in the way of the page.
      const said = problem ?? reported;
      const sig = opts.sig();
      if (said && sig?.connected) {
        sig.request('reportMediaProblem', { code: said.code, direction: said.direction, ...(problem ? {} : { cleared: true }) }, 3000).catch(() => undefined);
      }
      reported = problem;
      opts.problem(problem);
    });
    this.health.events.on('sample', (sample) => opts.quality(meter.update(sample)));
  }

  /** Try again: ICE restarted and checked afresh; the link rebuilt if that did not connect it in time. */
  async retry(): Promise<void> {
    if (this.#stopped) return;
    clearTimeout(this.#rebuildTimer);
    await this.health.retry();
    if (this.#stopped) return;
    clearTimeout(this.#rebuildTimer);
    this.#rebuildTimer = setTimeout(() => {
      this.#rebuildTimer = undefined;
      if (this.#stopped || this.#link.closed || !this.#stuck()) return;
      console.info('media: still not connected after Try again, new transports');
      this.#opts.rebuild(this.#link).catch((err: unknown) => console.warn('media rebuild failed', err));
    }, this.#opts.rebuildAfterMs ?? REBUILD_AFTER_MS);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#rebuildTimer);
    this.health.stop();
  }

  /** A transport of the link exists and is not connected. */
  #stuck(): boolean {
    return (['send', 'recv'] as const).some((d) => {
      const state = this.#link.transportState(d);
      return state !== undefined && state !== 'connected';
    });
  }
}
