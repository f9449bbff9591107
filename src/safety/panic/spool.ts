import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import type { IncidentEvent, IncidentRaise, IncidentStore } from './types.ts';

export type SpoolEntry = { op: 'raise'; raise: IncidentRaise } | { op: 'event'; event: IncidentEvent };

/**
 * The panic channel's fallback when the store is down: an append-only JSON-lines file, fsynced
 * on every append, replayed into the store (in order, idempotently) once it answers again.
 */
export class PanicSpool {
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  get pending(): boolean {
    return existsSync(this.#file);
  }

  append(entry: SpoolEntry): void {
    const fd = openSync(this.#file, 'a', 0o600);
    try {
      appendFileSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes every spooled entry to the store; the file is removed only when all went through. */
  async flush(store: IncidentStore): Promise<number> {
    if (!this.pending) return 0;
    const working = `${this.#file}.flushing`;
    if (!existsSync(working)) renameSync(this.#file, working);
    const entries = readFileSync(working, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpoolEntry);
    const raised = new Set<string>();
    for (const e of entries) {
      if (e.op === 'raise') {
        await store.raise(e.raise);
        raised.add(e.raise.id);
      } else if (raised.has(e.event.incidentId) || (await store.get(e.event.incidentId))) {
        await store.append(e.event);
      }
    }
    rmSync(working);
    return entries.length;
  }
}
