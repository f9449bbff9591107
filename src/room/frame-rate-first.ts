import type { types } from 'mediasoup';
import { layersOf } from '../media/scalability-mode.ts';

/**
 * Frame rate before size on a congested downlink (issue #14, measured in bench/network).
 *
 * mediasoup raises a simulcast consumer one step at a time and counts a larger spatial layer as
 * affordable as soon as its temporal layer 0 (a quarter of the frame rate) fits the bandwidth
 * estimate: on a 300 kbit/s link it moved the student's view from 320 px at 30 fps to 640 px at
 * 7-8 fps for 8-20 s at a time. For a therapy session (lips, a child's face) the smaller picture at
 * a fluid frame rate is the better one. So while a recv transport is constrained, each of its
 * simulcast video consumers is held at the largest spatial layer that fits the estimate (or
 * media.maxOutgoingBitrate, when lower) at **at least half its frame rate** (every temporal layer
 * but the top one), with headroom, shared out in consumer priority order after the audio.
 *
 * A held consumer cannot show the estimate that the link got better: mediasoup's estimate follows
 * what is sent, and the small layer sends little. So a held consumer gets a **trial** now and then:
 * the hold is lifted for TRIAL_MS (mediasoup climbs as it would, the estimate can grow with the
 * traffic); if the larger layer then fits, it stays, else the hold comes back and the next trial
 * waits twice as long (FIRST_TRIAL_MS, doubling up to MAX_TRIAL_WAIT_MS). A trial on a link that is
 * still full costs a freeze of a few seconds (measured: bench/README.md "Poor links"), so one is
 * made only when the link looks free: the consumer's score has been 10 (no loss reported by the
 * subscriber) for CLEAN_MS and the estimate is at least TRIAL_MIN_SHARE of what the larger layer needs.
 *
 * Only the consumer's preferred layers change. The tile's own wish (the viewport's layer,
 * `appData.viewLayer`) is kept apart: dynacast asks publishers for the tile's layers, so the larger
 * layer keeps coming and can be measured.
 */

/** Headroom over a stream's measured bitrate (retransmissions, rate swings of the encoder). */
export const HEADROOM = 1.15;
/** Kept for each audio consumer before video is shared out (Opus speech with packet overhead). */
export const AUDIO_RESERVE_BPS = 48_000;
/** How often a constrained transport is looked at. */
export const TICK_MS = 1000;
/** A held consumer's first trial comes this long after the hold; each failed trial doubles the wait. */
export const FIRST_TRIAL_MS = 20_000;
export const MAX_TRIAL_WAIT_MS = 120_000;
/** A trial needs this long without loss reported by the subscriber (consumer score 10) ... */
export const CLEAN_MS = 10_000;
/** ... and an estimate at least this share of what the larger layer needs (with headroom and audio). */
export const TRIAL_MIN_SHARE = 0.6;
/** How long a trial lets mediasoup climb before the hold is judged again. */
export const TRIAL_MS = 4000;
/** Ticks in a row without constraint after which the transport is left alone (until mediasoup changes a layer again). */
const CALM_TICKS = 5;

export interface VideoDemand {
  readonly id: string;
  /** mediasoup's consumer priority (higher first). */
  readonly priority: number;
  /** The spatial layer the subscriber's tile wants. */
  readonly viewLayer: number;
  /** Bits per second each spatial layer needs at half its frame rate or more (0: not being sent). */
  readonly layerBps: readonly number[];
}

/**
 * Each consumer's fit: the highest spatial layer up to its view layer whose half-frame-rate bitrate,
 * with HEADROOM, fits what is left of `availableBps` after the audio reserve and the consumers
 * before it (by priority). Layer 0 when nothing fits (mediasoup then thins its temporal layers).
 */
export function fitLayers(availableBps: number, audioConsumers: number, videos: readonly VideoDemand[]): Map<string, number> {
  let left = availableBps - audioConsumers * AUDIO_RESERVE_BPS;
  const fits = new Map<string, number>();
  for (const v of [...videos].sort((a, b) => b.priority - a.priority)) {
    let fit = 0;
    for (let s = Math.min(v.viewLayer, v.layerBps.length - 1); s > 0; s--) {
      const bps = v.layerBps[s] ?? 0;
      if (bps > 0 && bps * HEADROOM <= left) {
        fit = s;
        break;
      }
    }
    fits.set(v.id, fit);
    left -= (v.layerBps[fit] ?? 0) * HEADROOM;
  }
  return fits;
}

/** A held consumer: since when, when its next trial comes, how long the wait after a failed one is, and the running trial's end. */
export interface Hold {
  readonly nextTrialAt: number;
  readonly waitMs: number;
  readonly trialUntil?: number;
}

export type HoldEvent = 'hold' | 'trial' | 'trial-failed' | 'lift';

/**
 * One tick for one consumer: whether it is held (and at which layer) or free (its view layer), and
 * what happened. Pure: `now` in ms, `fit` from fitLayers, `view` the tile's layer. `mayTry` false:
 * no trial now (the link does not look free, or media.maxOutgoingBitrate binds, not the estimate).
 */
export function nextHold(prev: Hold | undefined, fit: number, view: number, now: number, mayTry = true): { hold: Hold | undefined; spatial: number; event?: HoldEvent } {
  if (fit >= view) return { hold: undefined, spatial: view, ...(prev ? { event: 'lift' as const } : {}) };
  if (!prev) return { hold: { nextTrialAt: now + FIRST_TRIAL_MS, waitMs: FIRST_TRIAL_MS }, spatial: fit, event: 'hold' };
  if (prev.trialUntil !== undefined) {
    if (now < prev.trialUntil) return { hold: prev, spatial: view };
    const waitMs = Math.min(prev.waitMs * 2, MAX_TRIAL_WAIT_MS);
    return { hold: { nextTrialAt: now + waitMs, waitMs }, spatial: fit, event: 'trial-failed' };
  }
  if (mayTry && now >= prev.nextTrialAt) return { hold: { ...prev, trialUntil: now + TRIAL_MS }, spatial: view, event: 'trial' };
  return { hold: prev, spatial: fit };
}

function layersOfConsumer(consumer: types.Consumer): { spatial: number; temporal: number } {
  return layersOf(consumer.rtpParameters.encodings?.[0]?.scalabilityMode);
}

/** The spatial layer a consumer's tile wants (set by the viewport; all layers until it says). */
export function viewLayerOf(consumer: types.Consumer): number {
  const top = layersOfConsumer(consumer).spatial - 1;
  const view = consumer.appData.viewLayer;
  return typeof view === 'number' ? Math.min(view, top) : top;
}

function topTemporalLayer(consumer: types.Consumer): number {
  return layersOfConsumer(consumer).temporal - 1;
}

/** The preferred layers a consumer should have: its view layer, under the hold when there is one; every temporal layer. */
export function preferredLayersOf(consumer: types.Consumer): { spatialLayer: number; temporalLayer: number } {
  const view = viewLayerOf(consumer);
  const held = consumer.appData.capLayer;
  return { spatialLayer: typeof held === 'number' ? Math.min(view, held) : view, temporalLayer: topTemporalLayer(consumer) };
}

/**
 * Bits per second each spatial layer of a simulcast producer needs at half its frame rate or more
 * (its temporal layers up to the one below the top; the whole stream when it has no temporal layers).
 */
async function halfRateBps(producer: types.Producer, topTemporal: number): Promise<number[]> {
  const encodings = producer.rtpParameters.encodings ?? [];
  const stats = await producer.getStats();
  const floor = Math.max(0, topTemporal - 1);
  return encodings.map((e) => {
    const s = stats.find((x) => (e.rid !== undefined && x.rid === e.rid) || (e.ssrc !== undefined && x.ssrc === e.ssrc));
    const layered = s?.bitrateByLayer?.[`0.${floor}`];
    return typeof layered === 'number' && layered > 0 ? layered : s?.bitrate ?? 0;
  });
}

/**
 * The governor of one recv transport. `poke()` when mediasoup changes one of its consumers' layers;
 * it then looks every TICK_MS while anything is held or below its tile's layer. Stops for good when
 * the transport closes. Never throws (a closed worker or consumer ends the round).
 */
export class FrameRateFirst {
  readonly #transport: types.WebRtcTransport;
  readonly #consumers: () => readonly types.Consumer[];
  readonly #producer: (id: string) => types.Producer | undefined;
  readonly #onEvent: (event: HoldEvent) => void;
  readonly #maxBps: number;
  readonly #holds = new Map<string, Hold>();
  /** Since when each consumer's score has been 10 (no loss reported by the subscriber). */
  readonly #cleanSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #calm = 0;

  constructor(opts: {
    transport: types.WebRtcTransport;
    consumers: () => readonly types.Consumer[];
    producer: (id: string) => types.Producer | undefined;
    /** Each hold, trial, failed trial and lift: for metrics. */
    onEvent?: (event: HoldEvent) => void;
    /** media.maxOutgoingBitrate: the transport never gets more than this, whatever the estimate (0: no cap). */
    maxOutgoingBitrate?: number;
  }) {
    this.#transport = opts.transport;
    this.#consumers = opts.consumers;
    this.#producer = opts.producer;
    this.#onEvent = opts.onEvent ?? (() => undefined);
    this.#maxBps = opts.maxOutgoingBitrate ?? 0;
    opts.transport.observer.once('close', () => this.close());
  }

  poke(): void {
    if (this.#transport.closed || this.#timer) return;
    this.#calm = 0;
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      if (this.#transport.closed) return this.close();
      const consumers = this.#consumers().filter((c) => !c.closed && !c.paused);
      // Cameras only: a screen share needs sharp text more than frames, mediasoup's choice suits it.
      const videos = consumers.filter((c) => c.kind === 'video' && c.type === 'simulcast' && c.appData.source !== 'screen');
      for (const id of this.#holds.keys()) if (!videos.some((c) => c.id === id)) this.#holds.delete(id);
      for (const id of this.#cleanSince.keys()) if (!videos.some((c) => c.id === id)) this.#cleanSince.delete(id);
      if (videos.length === 0) return this.close();
      const [stats] = await this.#transport.getStats();
      const estimate = stats?.availableOutgoingBitrate;
      if (estimate === undefined) return;
      const available = this.#maxBps > 0 ? Math.min(estimate, this.#maxBps) : estimate;
      const demands: VideoDemand[] = [];
      for (const c of videos) {
        const producer = this.#producer(c.producerId);
        if (!producer || producer.closed) continue;
        demands.push({ id: c.id, priority: c.priority, viewLayer: viewLayerOf(c), layerBps: await halfRateBps(producer, topTemporalLayer(c)) });
      }
      // Every check above is stale after the awaits: apply only to consumers still open.
      if (this.#transport.closed) return this.close();
      const audio = consumers.filter((c) => c.kind === 'audio').length;
      const fits = fitLayers(available, audio, demands);
      const now = Date.now();
      // At (or near) media.maxOutgoingBitrate the cap binds, not the estimate: a trial cannot find more.
      const estimateBinds = this.#maxBps === 0 || estimate < 0.9 * this.#maxBps;
      let constrained = false;
      for (const c of videos) {
        const fit = fits.get(c.id);
        if (fit === undefined || c.closed) continue;
        const view = viewLayerOf(c);
        if (c.score.score < 10) this.#cleanSince.delete(c.id);
        else if (!this.#cleanSince.has(c.id)) this.#cleanSince.set(c.id, now);
        const needed = (demands.find((d) => d.id === c.id)?.layerBps[view] ?? 0) * HEADROOM + audio * AUDIO_RESERVE_BPS;
        // Under media.maxOutgoingBitrate a larger layer that needs more than it can never be had.
        const couldFit = this.#maxBps === 0 || needed <= this.#maxBps;
        const linkLooksFree = couldFit && now - (this.#cleanSince.get(c.id) ?? now) >= CLEAN_MS && available >= TRIAL_MIN_SHARE * needed;
        const step = nextHold(this.#holds.get(c.id), fit, view, now, estimateBinds && linkLooksFree);
        if (step.hold) this.#holds.set(c.id, step.hold);
        else this.#holds.delete(c.id);
        if (step.event) this.#onEvent(step.event);
        const current = c.currentLayers;
        if (step.hold || !current || current.spatialLayer < view || (current.temporalLayer ?? 0) < topTemporalLayer(c)) constrained = true;
        const held = step.spatial < view ? step.spatial : undefined;
        if (c.appData.capLayer === held) continue;
        c.appData.capLayer = held;
        await c.setPreferredLayers(preferredLayersOf(c)).catch(() => undefined);
      }
      this.#calm = constrained ? 0 : this.#calm + 1;
      if (this.#calm >= CALM_TICKS) this.close();
    } catch {
      // The transport, a consumer or the worker closed mid-round: the next poke starts afresh.
    } finally {
      this.#busy = false;
    }
  }
}
