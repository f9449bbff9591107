import { describe, expect, it } from 'vitest';
import { audioIn, directionResult, spread, videoIn, type DirectionSample } from '../../bench/network/analysis.ts';

/** A made-up direction: 25 audio packets/s sent, `lossEvery`-th one lost; video at `width` and `fps`. */
function series(from: number, to: number, f: (t: number) => { width: number; fps: number; lossEvery?: number }, start: DirectionSample = { t: 0, audioSent: 0, audioReceived: 0, samples: 0, concealed: 0, framesDecoded: 0 }): DirectionSample[] {
  const out: DirectionSample[] = [];
  let prev = { ...start, t: from };
  for (let t = from; t <= to; t += 250) {
    const p = f(t);
    const sent = (prev.audioSent ?? 0) + 25 / 4;
    const lost = p.lossEvery ? (25 / 4) / p.lossEvery : 0;
    const cur: DirectionSample = {
      t,
      audioSent: sent,
      audioReceived: (prev.audioReceived ?? 0) + 25 / 4 - lost,
      samples: (prev.samples ?? 0) + 12_000,
      concealed: (prev.concealed ?? 0) + (lost > 0 ? 12_000 * lost / (25 / 4) : 0),
      framesDecoded: (prev.framesDecoded ?? 0) + p.fps / 4,
      frameWidth: p.width,
    };
    out.push(cur);
    prev = cur;
  }
  return out;
}

describe('poor-link bench analysis', () => {
  it('audio delivered and concealed, in percent of a window', () => {
    const s = series(0, 10_000, () => ({ width: 640, fps: 30, lossEvery: 20 }));
    expect(audioIn(s, { from: 0, to: 10_000 })).toMatchObject({ deliveredPercent: 95, concealedPercent: 5 });
  });

  it('finds the layer drop, the longest stall, the choppy seconds and the recovery', () => {
    // 0-10 s: 640 px at 30 fps; 10-12 s: no new frame; 12-30 s: 320 px at 30 fps; 30-35 s: 320 px at 5 fps; back to 640 px at 38 s.
    const s = series(0, 50_000, (t) => (t < 10_000 ? { width: 640, fps: 30 } : t < 12_000 ? { width: 640, fps: 0 } : t < 30_000 ? { width: 320, fps: 30 } : t < 35_000 ? { width: 320, fps: 5 } : t < 38_000 ? { width: 320, fps: 30 } : { width: 640, fps: 30 }));
    const r = directionResult(s, { before: { from: 0, to: 10_000 }, impaired: { from: 10_000, to: 35_000 }, after: { from: 35_000, to: 50_000 } });
    expect(r.before.width).toBe(640);
    expect(r.impaired.width).toBe(320);
    expect(r.layerDownMs).toBe(2000);
    expect(r.recoveredMs).toBe(3000);
    expect(r.impaired.video.longestStallMs).toBe(2000);
    // The two frozen seconds and the five at 5 fps (each counted from one second into it).
    expect(r.impaired.video.lowFpsSeconds).toBeGreaterThanOrEqual(5);
    expect(r.impaired.video.lowFpsSeconds).toBeLessThanOrEqual(7.5);
    expect(videoIn(s, { from: 0, to: 9750 }).fps).toBe(30);
    expect(r.after.video.lowFpsSeconds).toBe(0);
  });

  it('no recovery within the window is null, not a number', () => {
    const s = series(0, 20_000, (t) => ({ width: t < 5000 ? 640 : 320, fps: 30 }));
    expect(directionResult(s, { before: { from: 0, to: 5000 }, impaired: { from: 5000, to: 10_000 }, after: { from: 10_000, to: 20_000 } }).recoveredMs).toBeNull();
  });

  it('spread: median and range, nulls left out', () => {
    expect(spread([3, null, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spread([null])).toBeNull();
  });
});
