/**
 * System notifications (the Notification API) for alarms on the clinician and desk pages (issue
 * #15), so a responder looking at another window learns of one. Permission is asked at a user
 * gesture (Join, Connect, enabling the sound). A notification can show on a lock screen that
 * others see: it says the kind, who raised it by role and the room, never the location, the
 * emergency contact, a name or a note (docs/safety.md, "Sound and notifications").
 */
import { notificationContent, type NotifiedAlarm } from './alarm-urgency.ts';

export type { NotifiedAlarm };

export class AlarmNotifier {
  readonly #shown = new Map<string, Notification>();

  static get supported(): boolean {
    return typeof window.Notification === 'function';
  }

  get permission(): NotificationPermission | 'unsupported' {
    return AlarmNotifier.supported ? Notification.permission : 'unsupported';
  }

  /** Call from a user gesture: asks once (a browser remembers the answer). */
  askPermission(): void {
    if (!AlarmNotifier.supported || Notification.permission !== 'default') return;
    void Notification.requestPermission().catch(() => undefined);
  }

  /** Shows a notification for a new alarm when permitted; clicking it brings the page forward. */
  notify(a: NotifiedAlarm): void {
    if (!AlarmNotifier.supported || Notification.permission !== 'granted' || this.#shown.has(a.id)) return;
    const c = notificationContent(a);
    try {
      const n = new Notification(c.title, { body: c.body, tag: c.tag, requireInteraction: true });
      n.addEventListener('click', () => {
        window.focus();
        n.close();
      });
      this.#shown.set(a.id, n);
    } catch {
      // Some browsers (Chrome on Android) allow notifications only from a service worker: the sound and the page remain.
    }
  }

  /** The alarm was acknowledged or ended: its notification is no longer news. */
  close(id: string): void {
    this.#shown.get(id)?.close();
    this.#shown.delete(id);
  }
}
