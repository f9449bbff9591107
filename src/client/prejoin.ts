import { captureLocalMedia } from './media.ts';
import { DevicePicker } from './device-picker.ts';
import { LevelMeter } from './level-meter.ts';
import { prepareSafetyForm } from './safety.ts';
import { fillGuardianDetails, forgetGuardianDetails, loadGuardianDetails } from './guardian-details.ts';
import { roleLabel } from './messages.ts';
import { dateFormat, t } from './i18n/language.ts';
import { setText } from './i18n/localize.ts';
import type { RoomLink } from './link-check.ts';

/** What tests read of the pre-join screen (`window.sfuClient.prejoin()`). */
export interface PreJoinState {
  readonly visible: boolean;
  /** The preview's tracks (kind and readyState), while previewing. */
  readonly preview: { kind: string; readyState: string; deviceId: string | undefined }[];
  readonly micLevel: number;
  readonly micPeak: number;
  readonly audioContext: string;
  readonly devices: { audio?: string; video?: string };
  readonly problem: string | undefined;
}

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

/**
 * The pre-join screen: who the link is for, a preview of the camera with device pickers and a
 * microphone level meter (a message and Try again when capture fails), then the form asking only
 * what this role must give (safety.ts). The preview's stream is handed to the session on Join, so
 * what was checked here is what is published.
 */
export class PreJoin {
  readonly #section = byId<HTMLElement>('prejoin');
  readonly #who = byId<HTMLElement>('prejoin-who');
  readonly #video = byId<HTMLVideoElement>('preview');
  readonly #videoOff = byId<HTMLElement>('preview-off');
  readonly #problem = byId<HTMLElement>('device-problem');
  readonly #problemText = byId<HTMLElement>('device-problem-text');
  readonly #levelRow = byId<HTMLElement>('mic-level-row');
  readonly #meter = new LevelMeter(byId('mic-level'));
  readonly #picker: DevicePicker;
  #link: RoomLink | undefined;
  #stream: MediaStream | undefined;
  /** Bumped by every capture and stop: a capture that lands late for an older one is released. */
  #generation = 0;

  constructor() {
    this.#picker = new DevicePicker(byId('camera-select'), byId('mic-select'), () => void this.#preview());
    byId('device-retry').addEventListener('click', () => void this.#preview());
    byId('forget-details').addEventListener('click', () => {
      forgetGuardianDetails();
      for (const id of ['contact-name', 'contact-phone', 'consent-name']) byId<HTMLInputElement>(id).value = '';
      delete byId('consent-relation').dataset.touched;
      if (this.#link) prepareSafetyForm(this.#link.requires, this.#link.consent.policyVersion, new URLSearchParams());
      this.#rememberedControls();
      setText(byId('remembered-note'), () => t('form.forgotten'));
      byId('remembered-note').hidden = false;
    });
  }

  get visible(): boolean { return !this.#section.hidden; }

  /** Shows the screen for a checked link (again after a session ended) and starts the preview. */
  show(link: RoomLink, fragment: URLSearchParams): void {
    this.#link = link;
    const until = new Date(link.expiresAt);
    setText(this.#who, () => t('prejoin.who', { role: roleLabel(link.role), until: dateFormat({ dateStyle: 'medium', timeStyle: 'short' }).format(until) }));
    prepareSafetyForm(link.requires, link.consent.policyVersion, fragment);
    const filled = fillGuardianDetails();
    setText(byId('remembered-note'), () => t('form.remembered'));
    byId('remembered-note').hidden = !filled;
    this.#rememberedControls();
    this.#section.hidden = false;
    if (!this.#stream?.getTracks().some((t) => t.readyState === 'live')) void this.#preview();
  }

  hide(): void {
    this.#section.hidden = true;
  }

  /** For Join: the preview's stream (now the session's: not stopped here) and the chosen devices. */
  takeMedia(): { stream?: MediaStream; devices: { audio?: string; video?: string } } {
    const stream = this.#stream;
    this.#generation++;
    this.#stream = undefined;
    this.#meter.stop();
    this.#video.srcObject = null;
    return { ...(stream ? { stream } : {}), devices: this.#picker.choice };
  }

  /** Stops the preview and releases the camera and microphone (a link problem, leaving the page). */
  stop(): void {
    this.#generation++;
    for (const t of this.#stream?.getTracks() ?? []) t.stop();
    this.#stream = undefined;
    this.#meter.stop();
    this.#video.srcObject = null;
  }

  state(): PreJoinState {
    return {
      visible: this.visible,
      preview: (this.#stream?.getTracks() ?? []).map((t) => ({ kind: t.kind, readyState: t.readyState, deviceId: t.getSettings().deviceId })),
      micLevel: this.#meter.level,
      micPeak: this.#meter.peak,
      audioContext: this.#meter.contextState,
      devices: this.#picker.choice,
      problem: this.#problem.hidden ? undefined : this.#problemText.textContent ?? '',
    };
  }

  /** (Re)captures what this role publishes, from the chosen devices; shows it, its level, and any problem. */
  async #preview(): Promise<void> {
    const link = this.#link;
    if (!link) return;
    const sources = link.permissions.publish.filter((s): s is 'mic' | 'camera' => s === 'mic' || s === 'camera');
    const choice = this.#picker.choice;
    this.stop();
    const gen = this.#generation;
    if (sources.length === 0) {
      this.#showProblem(undefined);
      setText(this.#videoOff, () => t('prejoin.watchOnly'));
      this.#videoOff.hidden = false;
      this.#levelRow.hidden = true;
      return;
    }
    const { stream, problem } = await captureLocalMedia(sources, choice);
    if (gen !== this.#generation) {
      for (const t of stream?.getTracks() ?? []) t.stop();
      return;
    }
    this.#stream = stream;
    this.#showProblem(problem);
    this.#video.srcObject = stream ?? null;
    const video = stream?.getVideoTracks()[0];
    const audio = stream?.getAudioTracks()[0];
    setText(this.#videoOff, () => t('prejoin.noPicture'));
    this.#videoOff.hidden = Boolean(video);
    this.#levelRow.hidden = !audio;
    if (audio) this.#meter.start(audio);
    await this.#picker.refresh(stream);
  }

  #showProblem(problem: (() => string) | undefined): void {
    this.#problem.hidden = !problem;
    setText(this.#problemText, () => problem ? t('prejoin.problem', { problem: problem() }) : '');
  }

  #rememberedControls(): void {
    byId('forget-details').hidden = !loadGuardianDetails();
  }
}
