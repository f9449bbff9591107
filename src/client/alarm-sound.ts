/**
 * The audible alarm of the clinician and desk pages (issue #15): a tone pattern made with WebAudio
 * (no asset file), repeating while an alarm is open and nobody has acknowledged it. Muting silences
 * it and never hides the alarm. Browsers keep an AudioContext suspended until a user gesture on the
 * page: `unlock()` is called on one (Join, Connect, any click); an alarm that comes while the
 * context is still suspended shows a "sound blocked: click to enable" control (state `blocked`).
 */

import { alarmSoundState, type AlarmSoundState } from './alarm-urgency.ts';

export type { AlarmSoundState };

/** One cycle of the pattern: three rising pulses, a pause, then again (after IEC 60601-1-8's high-priority burst). */
export const PATTERN = {
  periodMs: 2000,
  /** [offset s, frequency Hz, length s] within a cycle. */
  pulses: [[0, 660, 0.14], [0.2, 880, 0.14], [0.4, 990, 0.2]] as const,
  level: 0.25,
} as const;

/** What tests read (via the page's debug API): whether a node is connected and running. */
export interface AlarmSoundDebug {
  state: AlarmSoundState;
  context: AudioContextState | 'none';
  oscillator: boolean;
  /** Peak absolute sample at the output right now (0 between pulses). */
  peak: number;
  /** Highest peak seen since the tone started (sampled each cycle and on every `debug()`). */
  maxPeak: number;
}

export class AlarmSound {
  #ctx: AudioContext | undefined;
  #nodes: { osc: OscillatorNode; gain: GainNode; analyser: AnalyserNode } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ringing = false;
  #muted = false;
  #state: AlarmSoundState = 'off';
  #maxPeak = 0;
  readonly #onChange: (state: AlarmSoundState) => void;

  constructor(onChange: (state: AlarmSoundState) => void) {
    this.#onChange = onChange;
  }

  get state(): AlarmSoundState { return this.#state; }
  get muted(): boolean { return this.#muted; }

  /** Call from a user gesture: creates or resumes the audio context, so alarms can be heard. */
  unlock(): void {
    const ctx = this.#context();
    if (ctx && ctx.state !== 'running') void ctx.resume().catch(() => undefined).then(() => this.#refresh());
    this.#refresh();
  }

  /** True while an alarm is open and unacknowledged. */
  set ringing(on: boolean) {
    if (on === this.#ringing) return;
    this.#ringing = on;
    // Without a gesture the context starts suspended (unless the browser allows autoplay): then blocked.
    if (on) this.#context();
    this.#refresh();
  }

  set muted(on: boolean) {
    this.#muted = on;
    this.#refresh();
  }

  debug(): AlarmSoundDebug {
    const peak = this.#peak();
    return { state: this.#state, context: this.#ctx?.state ?? 'none', oscillator: this.#nodes !== undefined, peak, maxPeak: this.#maxPeak };
  }

  #context(): AudioContext | undefined {
    if (this.#ctx) return this.#ctx;
    const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Ctor) return undefined;
    try {
      this.#ctx = new Ctor();
    } catch {
      return undefined;
    }
    this.#ctx.addEventListener('statechange', () => this.#refresh());
    return this.#ctx;
  }

  #refresh(): void {
    const state = alarmSoundState(this.#ringing, this.#muted, this.#ctx?.state === 'running');
    if (state === 'playing') this.#start();
    else this.#stop();
    if (state === this.#state) return;
    this.#state = state;
    this.#onChange(state);
  }

  #start(): void {
    const ctx = this.#ctx;
    if (!ctx || this.#nodes) return;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    osc.type = 'square';
    gain.gain.value = 0;
    osc.connect(gain).connect(analyser).connect(ctx.destination);
    osc.start();
    this.#nodes = { osc, gain, analyser };
    this.#maxPeak = 0;
    this.#cycle();
    this.#timer = setInterval(() => this.#cycle(), PATTERN.periodMs);
  }

  /** Schedules one cycle's pulses on the audio clock (sample-accurate, unaffected by timer jitter). */
  #cycle(): void {
    const ctx = this.#ctx;
    const nodes = this.#nodes;
    if (!ctx || !nodes) return;
    this.#peak();
    const t0 = ctx.currentTime + 0.02;
    const g = nodes.gain.gain;
    for (const [offset, hz, length] of PATTERN.pulses) {
      const t = t0 + offset;
      nodes.osc.frequency.setValueAtTime(hz, t);
      g.setValueAtTime(0, t);
      g.linearRampToValueAtTime(PATTERN.level, t + 0.01);
      g.setValueAtTime(PATTERN.level, t + length - 0.01);
      g.linearRampToValueAtTime(0, t + length);
    }
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const nodes = this.#nodes;
    if (!nodes) return;
    this.#nodes = undefined;
    try { nodes.osc.stop(); } catch { /* never started */ }
    nodes.osc.disconnect();
    nodes.gain.disconnect();
    nodes.analyser.disconnect();
  }

  #peak(): number {
    const a = this.#nodes?.analyser;
    if (!a) return 0;
    const buf = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    this.#maxPeak = Math.max(this.#maxPeak, peak);
    return peak;
  }
}
