/**
 * The microphone's level, drawn as a bar (WebAudio AnalyserNode over the track): a person sees that
 * the microphone hears them before joining. `level` is 0-100 (RMS, scaled for speech); `peak` the
 * highest since start.
 */
export class LevelMeter {
  readonly #bar: HTMLElement;
  #ctx: AudioContext | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #level = 0;
  #peak = 0;

  constructor(bar: HTMLElement) {
    this.#bar = bar;
  }

  get level(): number { return this.#level; }
  get peak(): number { return this.#peak; }
  /** The AudioContext's state ('running' once it may process sound; browsers may need a click first). */
  get contextState(): string { return this.#ctx?.state ?? 'none'; }

  start(track: MediaStreamTrack): void {
    this.stop();
    const ctx = new AudioContext();
    this.#ctx = ctx;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    // Browsers start an AudioContext suspended until the person interacts with the page.
    const resume = () => void ctx.resume().catch(() => undefined);
    resume();
    document.addEventListener('pointerdown', resume, { once: true });
    document.addEventListener('keydown', resume, { once: true });
    this.#timer = setInterval(() => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      const rms = Math.sqrt(sum / data.length);
      // About -50 dBFS reads 0, -10 dBFS and above 100.
      const db = 20 * Math.log10(rms || 1e-8);
      this.#show(Math.round(Math.max(0, Math.min(100, ((db + 50) / 40) * 100))));
    }, 100);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    void this.#ctx?.close().catch(() => undefined);
    this.#ctx = undefined;
    this.#show(0);
  }

  #show(level: number): void {
    this.#level = level;
    this.#peak = Math.max(this.#peak, level);
    this.#bar.style.setProperty('--level', `${level}%`);
    this.#bar.dataset.level = String(level);
    this.#bar.setAttribute('aria-valuenow', String(level));
  }
}
