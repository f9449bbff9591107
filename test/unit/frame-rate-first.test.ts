import { describe, expect, it } from 'vitest';
import { AUDIO_RESERVE_BPS, capLayers, HEADROOM } from '../../src/room/frame-rate-first.ts';

/** Stream bitrates like the clinician's camera on a 640 px tile: 320 px ~150 kbit/s, 640 px ~450, 1280 px ~1.1 Mbit/s. */
const CAMERA = [150_000, 450_000, 1_100_000];

describe('frame rate first: the layer each consumer is held to', () => {
  it('a 300 kbit/s estimate holds one 640-px tile at the 320-px layer (its whole stream fits, the 640 one does not)', () => {
    const caps = capLayers(300_000, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]);
    expect(caps.get('v')).toBe(0);
  });

  it('lifts the cap to the tile\'s layer once that stream fits with headroom after the audio', () => {
    const enough = CAMERA[1]! * HEADROOM + AUDIO_RESERVE_BPS;
    expect(capLayers(enough, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(1);
    expect(capLayers(enough - 1, 1, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(0);
  });

  it('never goes above the tile\'s layer however much bandwidth there is', () => {
    expect(capLayers(50_000_000, 0, [{ id: 'v', priority: 100, viewLayer: 1, layerBps: CAMERA }]).get('v')).toBe(1);
  });

  it('shares the estimate in priority order: the clinician\'s view of the student first', () => {
    const videos = [
      { id: 'other', priority: 100, viewLayer: 1, layerBps: CAMERA },
      { id: 'student', priority: 200, viewLayer: 1, layerBps: CAMERA },
    ];
    const caps = capLayers(2 * AUDIO_RESERVE_BPS + CAMERA[1]! * HEADROOM + CAMERA[0]! * HEADROOM, 2, videos);
    expect(caps.get('student')).toBe(1);
    expect(caps.get('other')).toBe(0);
  });

  it('a layer the publisher is not sending (0 bit/s) is never chosen', () => {
    expect(capLayers(5_000_000, 0, [{ id: 'v', priority: 100, viewLayer: 2, layerBps: [150_000, 450_000, 0] }]).get('v')).toBe(1);
  });
});
