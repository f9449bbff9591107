import type { types } from 'mediasoup';

/** What a subscriber reports about the tile showing one consumer. */
export interface Viewport {
  readonly width: number;
  readonly height: number;
  readonly visible: boolean;
}

/** Rendered height -> simulcast spatial layer (about 180p / 360p / 720p encodings). */
export function spatialLayerFor(height: number, maxSpatialLayer: number): number {
  const wanted = height <= 200 ? 0 : height <= 400 ? 1 : 2;
  return Math.min(wanted, maxSpatialLayer);
}

/**
 * Applies a viewport to a video consumer: a hidden tile is paused on the server (no bytes); a
 * visible one is resumed with a keyframe request and gets the layer its size needs (upgrades still
 * wait for the bandwidth estimate to allow them: mediasoup does that).
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
    const mode = consumer.rtpParameters.encodings?.[0]?.scalabilityMode ?? 'L1T1';
    const [, spatial = '1', temporal = '1'] = /^[LS](\d+)T(\d+)/.exec(mode) ?? [];
    layer = spatialLayerFor(v.height, Number(spatial) - 1);
    await consumer.setPreferredLayers({ spatialLayer: layer, temporalLayer: Number(temporal) - 1 });
  }
  if (hiddenBefore && consumer.paused && consumer.appData.clientPaused !== true) {
    await consumer.resume();
    await consumer.requestKeyFrame();
  }
  return { pausedChanged: hiddenBefore, ...(layer !== undefined ? { layer } : {}) };
}
