import type { Incident, IncidentEvent } from '../../domain/incident.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { PanicJournal } from './journal.ts';
import type { RaiseInput } from './re-raise.ts';

/** Re-raises of one incident counted in memory, not written yet: how many, when, and what the last one was. */
export interface ReRaiseBatch {
  count: number;
  /** The first one's key (a batch of one is written as a single re-raise is, with its key). */
  readonly clientIncidentId: string;
  readonly first: string;
  last: string;
  kind: RaiseInput['kind'];
  silent: boolean;
  hasNote: boolean;
  hasCoordinates: boolean;
}

/**
 * The `re-raised` event that records a batch: one event (one audit entry) for `count` raises, at the
 * last one's time (a batch of one: as a single re-raise, with its key). Like a single re-raise's,
 * the note and coordinates are not copied, only flags.
 */
export function batchEvent(raiserIdentity: string, b: ReRaiseBatch): Omit<IncidentEvent, 'incidentId' | 'at'> {
  return {
    type: 're-raised',
    actor: raiserIdentity,
    data: {
      ...(b.count === 1 ? { clientIncidentId: b.clientIncidentId } : { count: b.count, first: b.first, last: b.last }), kind: b.kind, silent: b.silent,
      ...(b.hasNote ? { hasNote: true } : {}), ...(b.hasCoordinates ? { hasCoordinates: true } : {}),
    },
  };
}

/** Writes a batch through the journal (store, else spool, else memory), in the incident's order of events; logged with its count. */
export function writeBatch(journal: PanicJournal, log: Logger, incidentId: string, raiserIdentity: string, batch: ReRaiseBatch): void {
  const event: IncidentEvent = { ...batchEvent(raiserIdentity, batch), incidentId, at: batch.last };
  log.warn({ incidentId, count: batch.count, first: batch.first, last: batch.last }, 'panic raised again, repeatedly: recorded on an open incident as one event');
  void journal.event(event).then(
    (w) => { if (w.durability !== 'store') log.warn({ incidentId, type: event.type, durability: w.durability }, 'panic event not in the store yet'); },
    (err: unknown) => log.error({ err, incidentId }, 'counted re-raises not recorded'),
  );
}

/**
 * Coalesces the writes of re-raises of an open incident (a flood of `panic:raise` from its raiser):
 * the first re-raise is written at once and opens a window of `windowMs`; the re-raises within it
 * are only counted (`add`), and written as one `re-raised` event with `count`, `first` and `last`
 * when the window ends (`write`), the window then staying open as long as more come; or earlier,
 * when the incident changes state (`take`, before that event is written). So one raiser's flood
 * writes at most one event per incident per window, plus one per change of state.
 */
export class ReRaiseBatches {
  readonly #windowMs: number;
  readonly #write: (incidentId: string, batch: ReRaiseBatch) => void;
  readonly #windows = new Map<string, { timer: NodeJS.Timeout; batch: ReRaiseBatch | undefined }>();

  constructor(windowMs: number, write: (incidentId: string, batch: ReRaiseBatch) => void) {
    this.#windowMs = windowMs;
    this.#write = write;
  }

  /** Whether a re-raise of the incident now is only counted (a window is open), not written. */
  coalescing(incidentId: string): boolean {
    return this.#windows.has(incidentId);
  }

  /** A re-raise was written: the window opens (idempotent). */
  opened(incidentId: string): void {
    if (!this.#windows.has(incidentId)) this.#openWindow(incidentId);
  }

  /** A re-raise within the window: counted. */
  add(incidentId: string, input: RaiseInput, at: string): void {
    const w = this.#windows.get(incidentId);
    if (!w) throw new Error('re-raise counted with no window open');
    const flags = { kind: input.kind, silent: input.silent, last: at };
    if (!w.batch) {
      w.batch = { count: 1, clientIncidentId: input.clientIncidentId, first: at, hasNote: input.note !== undefined, hasCoordinates: input.coordinates !== undefined, ...flags };
      return;
    }
    Object.assign(w.batch, flags, { count: w.batch.count + 1 });
    if (input.note !== undefined) w.batch.hasNote = true;
    if (input.coordinates !== undefined) w.batch.hasCoordinates = true;
  }

  /** The re-raises counted and not written yet (undefined when none); they are the caller's to write now. */
  take(incidentId: string): ReRaiseBatch | undefined {
    const w = this.#windows.get(incidentId);
    const batch = w?.batch;
    if (w) w.batch = undefined;
    return batch;
  }

  /** The incident as held in memory with the counted re-raises on it (for one read back from the store, which lacks them). */
  overlay(incident: Incident): Incident {
    const b = this.#windows.get(incident.id)?.batch;
    if (!b) return incident;
    return { ...incident, cancelledAt: undefined, reRaises: (incident.reRaises ?? 0) + b.count, lastReRaise: { kind: b.kind, silent: b.silent, at: b.last } };
  }

  #openWindow(incidentId: string): void {
    const timer = setTimeout(() => {
      const batch = this.take(incidentId);
      this.#windows.delete(incidentId);
      if (!batch) return;
      // More came within the window: written now, and the window goes on while they keep coming.
      this.#openWindow(incidentId);
      this.#write(incidentId, batch);
    }, this.#windowMs);
    timer.unref();
    this.#windows.set(incidentId, { timer, batch: undefined });
  }

  /** The incident is closed here: its window ends (take what is counted first). */
  drop(incidentId: string): void {
    const w = this.#windows.get(incidentId);
    if (w) clearTimeout(w.timer);
    this.#windows.delete(incidentId);
  }

  /** Ends every window; returns what was counted and not written yet, by incident. */
  stop(): [string, ReRaiseBatch][] {
    const left: [string, ReRaiseBatch][] = [];
    for (const [id, w] of this.#windows) {
      clearTimeout(w.timer);
      if (w.batch) left.push([id, w.batch]);
    }
    this.#windows.clear();
    return left;
  }
}
