import type { types } from 'mediasoup';
import { layersOf } from '../media/scalability-mode.ts';
import { preferredLayersOf } from './frame-rate-first.ts';

/** What a subscriber reports about the tile showing one consumer. */
export interface Viewport {
  readonly width: number;
  readonly height: number;
  readonly visible: boolean;
}

/** A screen-share tile up to this tall (device pixels) is a thumbnail: the screen's lowest layer. */
export const SCREEN_THUMBNAIL_MAX_HEIGHT = 270;

/**
 * Rendered height (device pixels) -> spatial layer.
 * A camera (about 180p / 360p / 720p encodings): up to 200 px layer 0, up to 400 px layer 1, above
 * that layer 2. A screen share (docs/forwarding.md "Screen sharing"): its lowest layer only for a
 * thumbnail (up to 270 px, any filmstrip tile), the top layer for anything larger, so text stays
 * sharp on a stage of any size; the layers between are what the bandwidth estimate falls back to.
 */
export function spatialLayerFor(height: number, maxSpatialLayer: number, source: string = 'camera'): number {
  if (source === 'screen') return height <= SCREEN_THUMBNAIL_MAX_HEIGHT ? 0 : maxSpatialLayer;
  const wanted = height <= 200 ? 0 : height <= 400 ? 1 : 2;
  return Math.min(wanted, maxSpatialLayer);
}

/**
 * Applies a viewport to a video consumer: a hidden tile is paused on the server (no bytes); a
 * visible one is resumed with a keyframe request and gets the layer its size needs (upgrades still
 * wait for the bandwidth estimate to allow them, and frame-rate-first.ts may hold it lower).
 * Returns whether the consumer's paused state changed.
 */
export async function applyViewport(consumer: types.Consumer, v: Viewport): Promise<{ pausedChanged: boolean; layer?: number }> {
  const hiddenBefore = consumer.appData.hidden === true;
  if (!v.visible) {
    consumer.appData.hidden = true;
    if (!consumer.paused) await consumer.pause();
    return { pausedChanged: !hiddenBefore };
  }
  consumer.appData.hidden = false;
  let layer: number | undefined;
  if (consumer.type === 'simulcast' || consumer.type === 'svc') {
    // mediasoup describes the layers a consumer can get as e.g. "L3T3" (3 spatial, 3 temporal).
    const { spatial } = layersOf(consumer.rtpParameters.encodings?.[0]?.scalabilityMode);
    layer = spatialLayerFor(v.height, spatial - 1, String(consumer.appData.source ?? 'camera'));
    // The tile's wish; a bandwidth hold (frame-rate-first.ts) may keep the consumer below it for now.
    consumer.appData.viewLayer = layer;
    await consumer.setPreferredLayers(preferredLayersOf(consumer));
  }
  if (hiddenBefore && consumer.paused && consumer.appData.clientPaused !== true) {
    await consumer.resume();
    await consumer.requestKeyFrame();
  }
  return { pausedChanged: hiddenBefore, ...(layer !== undefined ? { layer } : {}) };
}
