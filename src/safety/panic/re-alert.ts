/**
 * Coalesces re-alerts of an incident: the first request is sent at once, and requests during the
 * following `windowMs` are folded into one more send at the end of that window (with the state of
 * then). A burst of raises thus reaches responders as a few alerts, the latest one always last.
 */
export class ReAlertCoalescer {
  readonly #windowMs: number;
  readonly #send: (incidentId: string) => void;
  readonly #windows = new Map<string, { timer: NodeJS.Timeout; pending: boolean }>();

  constructor(windowMs: number, send: (incidentId: string) => void) {
    this.#windowMs = windowMs;
    this.#send = send;
  }

  request(incidentId: string): void {
    const open = this.#windows.get(incidentId);
    if (open) {
      open.pending = true;
      return;
    }
    this.#send(incidentId);
    this.#openWindow(incidentId);
  }

  #openWindow(incidentId: string): void {
    const window = {
      pending: false,
      timer: setTimeout(() => {
        this.#windows.delete(incidentId);
        if (window.pending) this.request(incidentId);
      }, this.#windowMs),
    };
    window.timer.unref();
    this.#windows.set(incidentId, window);
  }

  /** The incident is closed: nothing more is sent for it. */
  drop(incidentId: string): void {
    const open = this.#windows.get(incidentId);
    if (open) clearTimeout(open.timer);
    this.#windows.delete(incidentId);
  }

  stop(): void {
    for (const w of this.#windows.values()) clearTimeout(w.timer);
    this.#windows.clear();
  }
}
