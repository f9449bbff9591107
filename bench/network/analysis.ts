/**
 * What the poor-link bench (bench/network/index.ts) concludes from its samples: plain functions over
 * the counters one direction of a call shows (sender's outbound audio, receiver's inbound audio and
 * video), sampled every few hundred ms. Unit-tested with made-up series (test/unit/network-analysis.test.ts).
 */

/** One direction of the call (sender -> SFU -> receiver) at one moment; counters are cumulative. */
export interface DirectionSample {
  /** Milliseconds since the scenario's clock started (the start of the clean "before" phase). */
  t: number;
  /** The sender's microphone stream: outbound-rtp packetsSent. */
  audioSent?: number;
  /** The receiver's stream of that microphone: inbound-rtp packetsReceived, totalSamplesReceived, concealedSamples. */
  audioReceived?: number;
  samples?: number;
  concealed?: number;
  /** The receiver's stream of the sender's camera. */
  framesDecoded?: number;
  frameWidth?: number;
  freezeCount?: number;
  /** Seconds frozen so far (Chromium's totalFreezesDuration). */
  freezeSeconds?: number;
}

export interface Window {
  from: number;
  to: number;
}

type Counter = 'audioSent' | 'audioReceived' | 'samples' | 'concealed' | 'framesDecoded' | 'freezeCount' | 'freezeSeconds';

const inWindow = (s: readonly DirectionSample[], w: Window) => s.filter((x) => x.t >= w.from && x.t <= w.to);

/** How much `key` grew over the window: its last value in it minus its first (0 without two values). */
export function growth(samples: readonly DirectionSample[], w: Window, key: Counter): number {
  const values = inWindow(samples, w).map((x) => x[key]).filter((v): v is number => typeof v === 'number');
  return values.length < 2 ? 0 : values.at(-1)! - values[0]!;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

export interface AudioResult {
  sent: number;
  received: number;
  /** received / sent, in percent (the receiver lags the sender by one path delay: a few packets of a window). */
  deliveredPercent: number | null;
  /** Samples the receiver's decoder made up (loss concealment), in percent of those played. */
  concealedPercent: number | null;
}

export function audioIn(samples: readonly DirectionSample[], w: Window): AudioResult {
  const sent = growth(samples, w, 'audioSent');
  const received = growth(samples, w, 'audioReceived');
  const played = growth(samples, w, 'samples');
  return {
    sent,
    received,
    deliveredPercent: sent > 0 ? round((100 * received) / sent, 2) : null,
    concealedPercent: played > 0 ? round((100 * growth(samples, w, 'concealed')) / played, 2) : null,
  };
}

export interface VideoResult {
  /** Decoded frames per second over the window. */
  fps: number;
  /** Seconds spent at each decoded width (the layer the receiver got), from one sample to the next. */
  secondsAtWidth: Record<string, number>;
  /** The longest time without a newly decoded frame, to the sampling interval's precision. */
  longestStallMs: number;
  /** Seconds during which the last second's decoded frame rate was under LOW_FPS (a choppy picture). */
  lowFpsSeconds: number;
  /** Chromium's own freeze count and frozen seconds over the window. */
  freezes: number;
  frozenSeconds: number;
}

/** Frames per second under which the picture counts as choppy. */
export const LOW_FPS = 10;

export function videoIn(samples: readonly DirectionSample[], w: Window): VideoResult {
  const s = inWindow(samples, w);
  const secondsAtWidth: Record<string, number> = {};
  let longestStallMs = 0;
  let lowFpsMs = 0;
  let back = 0;
  let lastNew = s[0]?.t ?? w.from;
  for (let i = 1; i < s.length; i++) {
    const prev = s[i - 1]!;
    const cur = s[i]!;
    const width = String(prev.frameWidth ?? 0);
    secondsAtWidth[width] = round((secondsAtWidth[width] ?? 0) + (cur.t - prev.t) / 1000, 2);
    // A stall ends at the sample that shows a new frame (or at the window's end, still going).
    if ((cur.framesDecoded ?? 0) > (prev.framesDecoded ?? 0)) {
      longestStallMs = Math.max(longestStallMs, cur.t - lastNew);
      lastNew = cur.t;
    } else if (i === s.length - 1) longestStallMs = Math.max(longestStallMs, cur.t - lastNew);
    // The frame rate over the second before this sample (from the latest sample at least 1 s older).
    while (back + 1 < i && s[back + 1]!.t <= cur.t - 1000) back++;
    const old = s[back]!;
    if (cur.t - old.t >= 1000 && ((cur.framesDecoded ?? 0) - (old.framesDecoded ?? 0)) / ((cur.t - old.t) / 1000) < LOW_FPS) lowFpsMs += cur.t - prev.t;
  }
  const seconds = s.length > 1 ? (s.at(-1)!.t - s[0]!.t) / 1000 : 0;
  return {
    fps: seconds > 0 ? round(growth(samples, w, 'framesDecoded') / seconds) : 0,
    secondsAtWidth,
    longestStallMs: Math.round(longestStallMs),
    lowFpsSeconds: round(lowFpsMs / 1000, 2),
    freezes: growth(samples, w, 'freezeCount'),
    frozenSeconds: round(growth(samples, w, 'freezeSeconds'), 2),
  };
}

/** Milliseconds after `from` until `holds` is first true for a sample (not before `from`), or null if never. */
export function timeUntil(samples: readonly DirectionSample[], from: number, holds: (s: DirectionSample) => boolean): number | null {
  const hit = samples.find((x) => x.t >= from && holds(x));
  return hit ? Math.round(hit.t - from) : null;
}

/** The width the receiver showed longest over the window (the layer it settles on). */
export function usualWidth(samples: readonly DirectionSample[], w: Window): number {
  const at = videoIn(samples, w).secondsAtWidth;
  const best = Object.entries(at).sort((a, b) => b[1] - a[1])[0];
  return best ? Number(best[0]) : 0;
}

export interface DirectionResult {
  before: { audio: AudioResult; video: VideoResult; width: number };
  impaired: { audio: AudioResult; video: VideoResult; width: number };
  after: { audio: AudioResult; video: VideoResult };
  /** Milliseconds from the impairment's start until the receiver decoded a narrower layer than before (null: it never did). */
  layerDownMs: number | null;
  /** Milliseconds from the impairment's end until the receiver decoded its "before" width again (null: not within the window). */
  recoveredMs: number | null;
}

/** One direction of one scenario run: the three phases, when the layer fell and when it came back. */
export function directionResult(samples: readonly DirectionSample[], phases: { before: Window; impaired: Window; after: Window }): DirectionResult {
  const widthBefore = usualWidth(samples, phases.before);
  return {
    before: { audio: audioIn(samples, phases.before), video: videoIn(samples, phases.before), width: widthBefore },
    impaired: { audio: audioIn(samples, phases.impaired), video: videoIn(samples, phases.impaired), width: usualWidth(samples, phases.impaired) },
    after: { audio: audioIn(samples, phases.after), video: videoIn(samples, phases.after) },
    layerDownMs: timeUntil(samples.filter((x) => x.t <= phases.impaired.to), phases.impaired.from, (x) => (x.frameWidth ?? 0) > 0 && x.frameWidth! < widthBefore),
    recoveredMs: timeUntil(samples, phases.after.from, (x) => (x.frameWidth ?? 0) >= widthBefore),
  };
}

/** Median and range of a figure over the repetitions (nulls left out; null when none is left). */
export function spread(values: readonly (number | null)[]): { median: number; min: number; max: number; n: number } | null {
  const v = values.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid]! : round((v[mid - 1]! + v[mid]!) / 2, 3), min: v[0]!, max: v.at(-1)!, n: v.length };
}
