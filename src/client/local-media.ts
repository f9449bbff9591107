import { captureLocalMedia } from './media.ts';

/**
 * Our camera and microphone for a session: captured once and kept across re-joins and restores
 * (while every track is live), released on leave, failure or consent withdrawal.
 */
export class LocalMedia {
  #stream: MediaStream | undefined;
  readonly #onChange: (stream: MediaStream | undefined) => void;
  readonly #onNotice: (text: () => string) => void;
  #devices: { readonly audio?: string; readonly video?: string } | undefined;

  constructor(onChange: (stream: MediaStream | undefined) => void, onNotice: (text: () => string) => void) {
    this.#onChange = onChange;
    this.#onNotice = onNotice;
  }

  /** The devices to capture from from now on (chosen on the pre-join screen). */
  prefer(devices: { readonly audio?: string; readonly video?: string } | undefined): void {
    this.#devices = devices;
  }

  /** Takes a stream captured elsewhere (the pre-join preview) as the session's, if it is live. */
  adopt(stream: MediaStream): void {
    if (stream === this.#stream || !stream.getTracks().some((t) => t.readyState === 'live')) return;
    this.release();
    this.#stream = stream;
    this.#onChange(stream);
  }

  /** The live stream, or a new capture of `sources`; a capture that lands after `stillWanted()` turned false is released at once. */
  async acquire(sources: ('mic' | 'camera')[], stillWanted: () => boolean): Promise<MediaStream | undefined> {
    const current = this.#stream;
    if (current && current.getTracks().every((t) => t.readyState === 'live')) return current;
    const { stream, problem } = await captureLocalMedia(sources, this.#devices);
    if (!stillWanted()) {
      // The attempt ended (left, or failed) while the browser was asking.
      for (const t of stream?.getTracks() ?? []) t.stop();
      return undefined;
    }
    if (problem) this.#onNotice(problem);
    if (stream) {
      this.#stream = stream;
      this.#onChange(stream);
    }
    return stream;
  }

  release(): void {
    if (!this.#stream) return;
    for (const t of this.#stream.getTracks()) t.stop();
    this.#stream = undefined;
    this.#onChange(undefined);
  }
}
