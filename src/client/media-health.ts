import { Emitter } from './emitter.ts';
import type { Direction, RecvSample, TransportState } from './media-sample.ts';

/**
 * The client-side codes for media that cannot connect (src/client/README.md, docs/errors.md
 * "Client-side codes"): the page shows plain words for them and the operator can log them.
 */
export const MEDIA_PROBLEM_CODES = ['MEDIA_ICE_FAILED', 'MEDIA_DTLS_FAILED', 'MEDIA_NO_INBOUND'] as const;
export type MediaProblemCode = (typeof MEDIA_PROBLEM_CODES)[number];

export interface MediaProblem {
  readonly code: MediaProblemCode;
  /** The transport concerned: `send` (our camera and microphone) or `recv` (the others' media). */
  readonly direction: Direction;
  /** Where the server's media listens ("UDP 203.0.113.5:40000"): what a school's IT has to allow. */
  readonly endpoints: readonly string[];
}

export interface HealthTiming {
  /** A transport 'connecting' this long without connecting: ICE (or DTLS) cannot get through. */
  readonly connectMs: number;
  /** A connected transport 'disconnected' this long (it restarts ICE at 3 s meanwhile). */
  readonly disconnectedMs: number;
  /** Media should be arriving (a consumer neither paused nor hidden) and not a byte came for this long. */
  readonly noInboundMs: number;
  /** One getStats() of the recv transport this often (the tiles' quality reads the same sample). */
  readonly statsIntervalMs: number;
}

/** Normal ICE over UDP or TCP connects in well under a second here, TURN in one or two. */
export const HEALTH_TIMING: HealthTiming = { connectMs: 5000, disconnectedMs: 5000, noInboundMs: 6000, statsIntervalMs: 2000 };

/**
 * "Nothing arrives": remembers, per consumer that should be receiving, when its byte count last
 * grew. Stalled once every such consumer has been without a new byte for `stallMs`: one silent
 * stream is the sender's business (a camera that stopped), all of them is our path. Nobody
 * publishing, paused or hidden consumers, and a recv transport still connecting are never stalled.
 */
export class InboundWatch {
  #grewAt = new Map<string, { bytes: number; at: number }>();

  update(sample: RecvSample, stallMs: number): boolean {
    const bytes = new Map(sample.inbound.map((s) => [s.consumerId, s.bytesReceived]));
    const next = new Map<string, { bytes: number; at: number }>();
    for (const c of sample.consumers) {
      if (!c.expected) continue;
      const now = bytes.get(c.consumerId) ?? 0;
      const before = this.#grewAt.get(c.consumerId);
      next.set(c.consumerId, before && now <= before.bytes ? before : { bytes: now, at: sample.at });
    }
    this.#grewAt = next;
    if (next.size === 0 || sample.state !== 'connected') return false;
    return [...next.values()].every((g) => sample.at - g.at >= stallMs);
  }

  reset(): void {
    this.#grewAt.clear();
  }
}

/** What MediaHealth reads of a media link (media-link.ts's MediaLink). */
export interface WatchedLink {
  readonly events: { on(event: 'transportState', listener: (direction: Direction, state: TransportState) => void): () => void };
  transportState(direction: Direction): TransportState | undefined;
  /** Where the server's media listens, for the person's IT team. */
  endpoints(): string[];
  stuckIn(direction: Direction): Promise<'ice' | 'dtls'>;
  sampleRecv(): Promise<RecvSample | undefined>;
  restartIce(): Promise<void>;
}

export type MediaHealthEvents = {
  /** The problem to show changed: the first one still standing, or undefined once none is. */
  problem: [MediaProblem | undefined];
  /** Each stats sample of the recv transport (for the tiles' connection quality). */
  sample: [RecvSample];
};

/**
 * Watches one MediaLink: a transport that stays 'connecting', fails, or stays 'disconnected'
 * (MEDIA_ICE_FAILED, or MEDIA_DTLS_FAILED when ICE found a path but DTLS did not finish), and media
 * that should arrive but does not (MEDIA_NO_INBOUND). A problem clears when its transport connects
 * or bytes arrive again. Stopped with the link.
 */
export class MediaHealth {
  readonly events = new Emitter<MediaHealthEvents>();
  readonly #link: WatchedLink;
  readonly #timing: HealthTiming;
  /** Standing problems: per transport, and 'inbound'. */
  readonly #problems = new Map<Direction | 'inbound', MediaProblem>();
  readonly #timers = new Map<Direction, ReturnType<typeof setTimeout>>();
  readonly #watch = new InboundWatch();
  readonly #off: () => void;
  readonly #poll: ReturnType<typeof setInterval>;
  #sampling = false;
  #stopped = false;

  constructor(link: WatchedLink, timing: HealthTiming = HEALTH_TIMING) {
    this.#link = link;
    this.#timing = timing;
    this.#off = link.events.on('transportState', (direction, state) => this.#onState(direction, state));
    this.#poll = setInterval(() => void this.#sample(), timing.statsIntervalMs);
  }

  /** The problem to show: the first one still standing. */
  get problem(): MediaProblem | undefined {
    return this.#problems.values().next().value;
  }

  /**
   * The person's Retry: forgets the standing problems (they come back if the checks fail again),
   * restarts ICE on both transports and times the connection afresh.
   */
  async retry(): Promise<void> {
    if (this.#stopped) return;
    const shown = this.problem;
    this.#problems.clear();
    this.#watch.reset();
    if (shown) this.events.emit('problem', undefined);
    for (const direction of ['send', 'recv'] as const) {
      const state = this.#link.transportState(direction);
      // A transport still 'connecting' may not announce a new state: time it from now.
      if (state && state !== 'new' && state !== 'closed') this.#arm(direction, this.#timing.connectMs);
    }
    await this.#link.restartIce();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#off();
    clearInterval(this.#poll);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#problems.clear();
    this.events.removeAll();
  }

  #onState(direction: Direction, state: TransportState): void {
    if (this.#stopped) return;
    clearTimeout(this.#timers.get(direction));
    this.#timers.delete(direction);
    if (state === 'connected') this.#clear(direction);
    else if (state === 'connecting') this.#arm(direction, this.#timing.connectMs);
    else if (state === 'disconnected') this.#arm(direction, this.#timing.disconnectedMs);
    else if (state === 'failed') void this.#diagnose(direction);
  }

  #arm(direction: Direction, ms: number): void {
    clearTimeout(this.#timers.get(direction));
    this.#timers.set(direction, setTimeout(() => {
      this.#timers.delete(direction);
      void this.#diagnose(direction);
    }, ms));
  }

  async #diagnose(direction: Direction): Promise<void> {
    const where = await this.#link.stuckIn(direction).catch(() => 'ice' as const);
    if (this.#stopped || this.#link.transportState(direction) === 'connected') return;
    this.#raise(direction, { code: where === 'dtls' ? 'MEDIA_DTLS_FAILED' : 'MEDIA_ICE_FAILED', direction, endpoints: this.#link.endpoints() });
  }

  async #sample(): Promise<void> {
    if (this.#sampling || this.#stopped) return;
    this.#sampling = true;
    try {
      const sample = await this.#link.sampleRecv();
      if (!sample || this.#stopped) return;
      if (this.#watch.update(sample, this.#timing.noInboundMs)) {
        this.#raise('inbound', { code: 'MEDIA_NO_INBOUND', direction: 'recv', endpoints: this.#link.endpoints() });
      } else {
        this.#clear('inbound');
      }
      this.events.emit('sample', sample);
    } catch (err) {
      console.warn('media stats failed', err);
    } finally {
      this.#sampling = false;
    }
  }

  #raise(key: Direction | 'inbound', problem: MediaProblem): void {
    if (this.#problems.get(key)?.code === problem.code) return;
    const shown = this.problem;
    this.#problems.set(key, problem);
    if (this.problem !== shown) this.events.emit('problem', this.problem);
  }

  #clear(key: Direction | 'inbound'): void {
    const shown = this.problem;
    if (!this.#problems.delete(key)) return;
    if (this.problem !== shown) this.events.emit('problem', this.problem);
  }
}
