import { t } from './i18n/language.ts';
import { setText } from './i18n/localize.ts';

/**
 * The camera and microphone pickers: filled from enumerateDevices once the browser granted access
 * (before that, devices have no labels), the current capture's devices selected.
 */
export class DevicePicker {
  readonly #camera: HTMLSelectElement;
  readonly #mic: HTMLSelectElement;

  constructor(camera: HTMLSelectElement, mic: HTMLSelectElement, onChange: (choice: { audio?: string; video?: string }) => void) {
    this.#camera = camera;
    this.#mic = mic;
    const changed = () => onChange(this.choice);
    camera.addEventListener('change', changed);
    mic.addEventListener('change', changed);
  }

  /** The chosen devices (undefined: the browser's default). */
  get choice(): { audio?: string; video?: string } {
    return {
      ...(this.#mic.value ? { audio: this.#mic.value } : {}),
      ...(this.#camera.value ? { video: this.#camera.value } : {}),
    };
  }

  /** Lists the devices and selects those `stream` captures from. */
  async refresh(stream: MediaStream | undefined): Promise<{ cameras: number; mics: number }> {
    const devices = await navigator.mediaDevices?.enumerateDevices().catch(() => []) ?? [];
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, track: MediaStreamTrack | undefined, unnamed: 'prejoin.cameraN' | 'prejoin.micN') => {
      const list = devices.filter((d) => d.kind === kind && d.deviceId);
      select.replaceChildren(...list.map((d, i) => {
        const option = new Option(d.label, d.deviceId);
        // A device the browser gives no name gets a numbered one, in the page's language.
        if (!d.label) setText(option, () => t(unnamed, { n: i + 1 }));
        return option;
      }));
      const current = track?.getSettings().deviceId;
      if (current && list.some((d) => d.deviceId === current)) select.value = current;
      select.disabled = list.length < 2;
      (select.closest('.device') as HTMLElement | null)?.toggleAttribute('hidden', list.length === 0 || !track);
      return list.length;
    };
    return {
      cameras: fill(this.#camera, 'videoinput', stream?.getVideoTracks()[0], 'prejoin.cameraN'),
      mics: fill(this.#mic, 'audioinput', stream?.getAudioTracks()[0], 'prejoin.micN'),
    };
  }
}
