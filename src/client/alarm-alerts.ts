/**
 * Ties a responder page's incidents to the sound and the system notification (issue #15): a new
 * unacknowledged alarm notifies and rings; the ring goes on until every open alarm is acknowledged
 * (by anyone); the controls (mute, "sound blocked: click to enable") live in one element whose
 * `data-alarm-sound` says what the sound does (off, playing, muted, blocked).
 */
import { AlarmNotifier } from './alarm-notify.ts';
import { AlarmSound, type AlarmSoundDebug, type AlarmSoundState } from './alarm-sound.ts';
import { stateOf, type IncidentBook } from './incident-book.ts';
import { roleLabel } from './messages.ts';
import { t } from './i18n/language.ts';
import { setText } from './i18n/localize.ts';

export interface AlarmControls {
  /** Carries `data-alarm-sound`. */
  readonly root: HTMLElement;
  readonly mute: HTMLButtonElement;
  /** Shown while an alarm rings and the browser keeps the sound blocked. */
  readonly enable: HTMLButtonElement;
  /** An aria-live region's setter, for what a screen reader should hear. */
  readonly announce: (text: string) => void;
}

export interface AlarmAlertsDebug extends AlarmSoundDebug {
  muted: boolean;
  notifications: NotificationPermission | 'unsupported';
}

export class AlarmAlerts {
  readonly #book: IncidentBook;
  readonly #controls: AlarmControls;
  readonly #sound: AlarmSound;
  readonly #notifier = new AlarmNotifier();
  readonly #responder: () => boolean;

  /**
   * `responder`: whether this page's person responds to alarms (a clinician, the desk): only then
   * is the sound unlocked and notification permission asked for (a student is never prompted).
   */
  constructor(book: IncidentBook, controls: AlarmControls, responder: () => boolean) {
    this.#book = book;
    this.#controls = controls;
    this.#responder = responder;
    this.#sound = new AlarmSound((s) => this.#soundChanged(s));
    this.#soundChanged('off');
    book.events.on('added', (e) => {
      if (stateOf(e) === 'open') {
        this.#notifier.notify({ id: e.id, kind: e.kind, raiserRole: roleLabel(e.raiser.role), room: e.room });
        // Mute silences the alarms that were ringing, never a new one: a new alarm rings again.
        if (this.#sound.muted) {
          this.#sound.muted = false;
          this.#renderMute();
        }
      }
      this.#update();
    });
    book.events.on('changed', (e) => {
      if (stateOf(e) !== 'open') this.#notifier.close(e.id);
      this.#update();
    });
    controls.mute.addEventListener('click', () => {
      this.#sound.muted = !this.#sound.muted;
      this.#renderMute();
    });
    controls.enable.addEventListener('click', () => this.gesture());
    // Any click or key on the page is a gesture that lets the sound play (browsers' autoplay rules).
    const onGesture = () => { if (this.#sound.state !== 'playing') this.gesture(); };
    document.addEventListener('pointerdown', onGesture, true);
    document.addEventListener('keydown', onGesture, true);
    this.#renderMute();
  }

  /** Call from a user gesture (Join, Connect, the enable control): unlocks the sound, asks for notifications. */
  gesture(): void {
    if (!this.#responder()) return;
    this.#sound.unlock();
    this.#notifier.askPermission();
  }

  debug(): AlarmAlertsDebug {
    return { ...this.#sound.debug(), muted: this.#sound.muted, notifications: this.#notifier.permission };
  }

  #update(): void {
    this.#sound.ringing = this.#book.open().some((e) => !e.acknowledged);
  }

  #soundChanged(state: AlarmSoundState): void {
    const c = this.#controls;
    c.root.dataset.alarmSound = state;
    c.enable.hidden = state !== 'blocked';
    if (state === 'blocked') c.announce(t('alarm.blocked'));
  }

  #renderMute(): void {
    const muted = this.#sound.muted;
    const b = this.#controls.mute;
    // The label says what a press does (no aria-pressed with a changing label); the state is in data-muted.
    b.dataset.muted = String(muted);
    setText(b, () => t(muted ? 'alarm.unmute' : 'alarm.mute'));
  }
}

/** The role claim of a JWT, decoded without verification (only to decide whether to ask for notifications). */
export function roleInToken(token: string): string | undefined {
  try {
    const json = atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'));
    const role = (JSON.parse(json) as { role?: unknown }).role;
    return typeof role === 'string' ? role : undefined;
  } catch {
    return undefined;
  }
}
