import type { types } from 'mediasoup';

/**
 * Frame rate before resolution on a congested downlink (issue #14, measured in bench/network).
 *
 * mediasoup raises a simulcast consumer one step at a time and counts a higher spatial layer's
 * temporal layer 0 as affordable when that step alone fits the bandwidth estimate: on a 300 kbit/s
 * link it moved the student from 320 px at 30 fps to 640 px at 7.5 fps for 8-20 s at a time. For a
 * therapy session (lip reading, a child's face) 30 fps at a lower size is the better picture. So
 * while a recv transport is constrained, each of its simulcast video consumers is capped at the
 * highest spatial layer whose whole stream (every temporal layer) fits the estimate with headroom,
 * shared out in consumer priority order after the audio; the cap lifts as the estimate grows.
 *
 * The cap changes only the consumer's preferred layers. The tile's own wish (the viewport's layer,
 * `appData.viewLayer`) is kept apart: dynacast asks publishers for the viewport's layers, and
 * mediasoup's probing aims at the producer's highest stream whatever the preferred layers, so the
 * estimate can still grow back and the cap can lift.
 */

/** Headroom over a stream's measured bitrate (retransmissions, rate swings of the encoder). */
export const HEADROOM = 1.15;
/** Kept for each audio consumer before video is shared out (Opus speech with packet overhead). */
export const AUDIO_RESERVE_BPS = 48_000;
/** How often a constrained transport is looked at. */
export const TICK_MS = 1000;
/** Ticks in a row without constraint after which the transport is left alone (until mediasoup changes a layer again). */
const CALM_TICKS = 5;

export interface VideoDemand {
  readonly id: string;
  /** mediasoup's consumer priority (higher first). */
  readonly priority: number;
  /** The spatial layer the subscriber's tile wants. */
  readonly viewLayer: number;
  /** Bits per second of each of the producer's spatial layers' whole stream now (0: not being sent). */
  readonly layerBps: readonly number[];
}

/**
 * Each consumer's cap: the highest spatial layer up to its view layer whose stream, with HEADROOM,
 * fits what is left of `availableBps` after the audio reserve and the consumers before it (by
 * priority). Layer 0 when nothing fits (mediasoup then thins its temporal layers as it must).
 */
export function capLayers(availableBps: number, audioConsumers: number, videos: readonly VideoDemand[]): Map<string, number> {
  let left = availableBps - audioConsumers * AUDIO_RESERVE_BPS;
  const caps = new Map<string, number>();
  for (const v of [...videos].sort((a, b) => b.priority - a.priority)) {
    let cap = 0;
    for (let s = Math.min(v.viewLayer, v.layerBps.length - 1); s > 0; s--) {
      const bps = v.layerBps[s] ?? 0;
      if (bps > 0 && bps * HEADROOM <= left) {
        cap = s;
        break;
      }
    }
    caps.set(v.id, cap);
    left -= (v.layerBps[cap] ?? 0) * HEADROOM;
  }
  return caps;
}

/** The spatial layer a consumer's tile wants (set by the viewport; all layers until it says). */
export function viewLayerOf(consumer: types.Consumer): number {
  const top = spatialLayers(consumer) - 1;
  const view = consumer.appData.viewLayer;
  return typeof view === 'number' ? Math.min(view, top) : top;
}

function spatialLayers(consumer: types.Consumer): number {
  const mode = consumer.rtpParameters.encodings?.[0]?.scalabilityMode ?? 'L1T1';
  return Number(/^[LS](\d+)/.exec(mode)?.[1] ?? 1);
}

function topTemporalLayer(consumer: types.Consumer): number {
  const mode = consumer.rtpParameters.encodings?.[0]?.scalabilityMode ?? 'L1T1';
  return Number(/T(\d+)/.exec(mode)?.[1] ?? 1) - 1;
}

/** The preferred layers a consumer should have: its view layer, under the cap when there is one; every temporal layer. */
export function preferredLayersOf(consumer: types.Consumer): { spatialLayer: number; temporalLayer: number } {
  const view = viewLayerOf(consumer);
  const cap = consumer.appData.capLayer;
  return { spatialLayer: typeof cap === 'number' ? Math.min(view, cap) : view, temporalLayer: topTemporalLayer(consumer) };
}

/** Bits per second of each spatial layer's stream of a simulcast producer, in encoding order. */
async function layerRates(producer: types.Producer): Promise<number[]> {
  const encodings = producer.rtpParameters.encodings ?? [];
  const stats = await producer.getStats();
  return encodings.map((e) => stats.find((s) => (e.rid !== undefined && s.rid === e.rid) || (e.ssrc !== undefined && s.ssrc === e.ssrc))?.bitrate ?? 0);
}

/**
 * The governor of one recv transport. `poke()` when mediasoup changes one of its consumers' layers;
 * it then looks every TICK_MS until the transport has been unconstrained for a while. Stops for
 * good when the transport closes. Never throws (a closed worker or consumer ends the round).
 */
export class FrameRateFirst {
  readonly #transport: types.WebRtcTransport;
  readonly #consumers: () => readonly types.Consumer[];
  readonly #producer: (id: string) => types.Producer | undefined;
  readonly #onCap: (capped: boolean) => void;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #calm = 0;

  constructor(opts: {
    transport: types.WebRtcTransport;
    consumers: () => readonly types.Consumer[];
    producer: (id: string) => types.Producer | undefined;
    /** Each time a consumer's cap is set (true) or lifted (false): for metrics. */
    onCap?: (capped: boolean) => void;
  }) {
    this.#transport = opts.transport;
    this.#consumers = opts.consumers;
    this.#producer = opts.producer;
    this.#onCap = opts.onCap ?? (() => undefined);
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
      const videos = consumers.filter((c) => c.kind === 'video' && c.type === 'simulcast');
      if (videos.length === 0) return this.close();
      const [stats] = await this.#transport.getStats();
      const available = stats?.availableOutgoingBitrate;
      if (available === undefined) return;
      const demands: VideoDemand[] = [];
      for (const c of videos) {
        const producer = this.#producer(c.producerId);
        if (!producer || producer.closed) continue;
        demands.push({ id: c.id, priority: c.priority, viewLayer: viewLayerOf(c), layerBps: await layerRates(producer) });
      }
      // Every check above is stale after the awaits: apply only to consumers still open.
      if (this.#transport.closed) return this.close();
      const caps = capLayers(available, consumers.filter((c) => c.kind === 'audio').length, demands);
      let constrained = false;
      for (const c of videos) {
        const cap = caps.get(c.id);
        if (cap === undefined || c.closed) continue;
        const wanted = cap < viewLayerOf(c) ? cap : undefined;
        const current = c.currentLayers;
        if (wanted !== undefined || !current || current.spatialLayer < viewLayerOf(c) || (current.temporalLayer ?? 0) < topTemporalLayer(c)) constrained = true;
        if (c.appData.capLayer === wanted) continue;
        c.appData.capLayer = wanted;
        this.#onCap(wanted !== undefined);
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
