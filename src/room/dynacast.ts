import type { types } from 'mediasoup';
import { layersOf } from '../media/scalability-mode.ts';
import { viewLayerOf } from './frame-rate-first.ts';

/**
 * Publisher-side layer pausing ("dynacast"): how many spatial layers of a simulcast/SVC producer
 * anyone needs now. A consumer needs up to its tile's spatial layer (all layers when it never
 * said) unless it is paused, whatever a bandwidth cap holds it to for now (the layer must keep
 * coming for the cap to lift); with no active consumer, only the lowest layer is kept.
 * Returns undefined for producers without spatial layers.
 */
export function spatialLayersNeeded(producer: types.Producer, consumers: readonly types.Consumer[]): number | undefined {
  if (producer.kind !== 'video' || producer.type === 'simple') return undefined;
  const total = producer.type === 'simulcast'
    ? producer.rtpParameters.encodings?.length ?? 1
    : layersOf(producer.rtpParameters.encodings?.[0]?.scalabilityMode).spatial;
  let needed = 1;
  for (const c of consumers) {
    if (c.closed || c.paused) continue;
    needed = Math.max(needed, viewLayerOf(c) + 1);
  }
  return Math.min(needed, total);
}
