import {
  closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { IncidentEvent, IncidentRaise, IncidentStore } from '../../domain/incident.ts';

export type SpoolEntry = { op: 'raise'; raise: IncidentRaise } | { op: 'event'; event: IncidentEvent };

/** The incident an entry belongs to. */
export function entryIncidentId(e: SpoolEntry): string {
  return e.op === 'raise' ? e.raise.id : e.event.incidentId;
}

/** JSON with object keys sorted: two events compare equal whatever order their data's keys were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The same event (an event has no id of its own: incident, type, actor, time and data name it). */
export function sameEvent(a: IncidentEvent, b: IncidentEvent): boolean {
  return a.incidentId === b.incidentId && a.type === b.type && a.actor === b.actor && a.at === b.at && canonical(a.data) === canonical(b.data);
}

/**
 * What writing one entry into the store did: `written`; `present` (it was already there: a
 * replay after a crash mid-flush, or a late store write that landed after all); `orphan` (an event
 * of an incident the store does not have, e.g. deleted by retention: nothing to attach it to);
 * `conflict` (a raise whose idempotency key the store already holds under another incident id).
 */
export type ReplayOutcome = 'written' | 'present' | 'orphan' | 'conflict';

/**
 * Writes one entry into the store, idempotently: a raise is idempotent in the store itself (by
 * room, identity and client key); an event is skipped when the incident already has it.
 */
export async function replayEntry(store: IncidentStore, e: SpoolEntry): Promise<ReplayOutcome> {
  if (e.op === 'raise') {
    const { incident, created } = await store.raise(e.raise);
    if (incident.id !== e.raise.id) return 'conflict';
    return created ? 'written' : 'present';
  }
  const known = await store.events(e.event.incidentId);
  if (known.some((k) => sameEvent(k, e.event))) return 'present';
  try {
    await store.append(e.event);
    return 'written';
  } catch (err) {
    // The store answered but has no such incident: the event cannot be attached, now or later.
    if (known.length === 0 && (await store.get(e.event.incidentId)) === undefined) return 'orphan';
    throw err;
  }
}

/**
 * The panic channel's local journal for when the store is slow or down: an append-only JSON-lines
 * file, each entry fsynced before `append` returns, replayed into the store in order and
 * idempotently. A flush renames the file to `<file>.flushing` and works through it while new
 * entries go to a fresh `<file>`; a flush interrupted (by a crash or a store failure) leaves
 * `.flushing` in place and the next flush resumes with it before `<file>`: entries in any state
 * are replayed until the store has them.
 */
export class PanicSpool {
  readonly file: string;
  readonly #working: string;
  readonly #onBadLine: (file: string, line: string) => void;
  #count: number;

  constructor(file: string, opts: { onBadLine?: (file: string, line: string) => void } = {}) {
    this.file = file;
    this.#working = `${file}.flushing`;
    this.#onBadLine = opts.onBadLine ?? (() => undefined);
    // A crash in the middle of an append can leave a torn last line (never fsynced, so never
    // acknowledged to anyone): cut it, or the next append would glue onto it.
    for (const f of [this.#working, this.file]) dropTornTail(f);
    this.#count = this.#files().reduce((n, f) => n + lines(f).length, 0);
  }

  /** Entries waiting for the store (in both files). */
  get count(): number { return this.#count; }

  get pending(): boolean { return this.#count > 0 || this.#files().length > 0; }

  /** Older file first: an interrupted flush's entries precede everything appended since. */
  #files(): string[] {
    return [this.#working, this.file].filter((f) => existsSync(f));
  }

  /** Every entry not yet known to be in the store, oldest first. */
  entries(): SpoolEntry[] {
    return this.#files().flatMap((f) => this.#parse(f));
  }

  /**
   * Appends one entry and fsyncs it (and, for a new file, its directory). On failure (ENOSPC,
   * EIO, ...) it throws and the file is left as it was: a partly written line is cut off.
   */
  append(entry: SpoolEntry): void {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    const created = !existsSync(this.file);
    const fd = openSync(this.file, 'a', 0o600);
    let size = 0;
    try {
      size = fstatSync(fd).size;
      let off = 0;
      while (off < line.length) off += writeSync(fd, line, off, line.length - off);
      fsyncSync(fd);
    } catch (err) {
      try { ftruncateSync(fd, size); } catch { /* nothing more can be done: dropTornTail repairs it at the next start */ }
      throw err;
    } finally {
      closeSync(fd);
    }
    if (created) syncDir(dirname(this.file));
    this.#count++;
  }

  /**
   * Writes every spooled entry to the store, in order: first an interrupted flush's `.flushing`,
   * then the current file (renamed to `.flushing` while it is worked through; appends meanwhile
   * start a new file, flushed in the same call). A file is removed only when all of it is in the
   * store; a store failure throws and leaves the rest for the next call. Returns how many entries
   * were written or found present.
   */
  async flush(store: IncidentStore, onEntry: (e: SpoolEntry, outcome: ReplayOutcome) => void = () => undefined): Promise<number> {
    let n = 0;
    for (;;) {
      if (!existsSync(this.#working)) {
        if (!existsSync(this.file)) break;
        renameSync(this.file, this.#working);
        syncDir(dirname(this.file));
      }
      const entries = this.#parse(this.#working);
      for (const e of entries) {
        onEntry(e, await replayEntry(store, e));
        this.#count = Math.max(0, this.#count - 1);
        n++;
      }
      rmSync(this.#working, { force: true });
      this.#count = existsSync(this.file) ? lines(this.file).length : 0;
    }
    this.#count = 0;
    return n;
  }

  /** Whether the spool's directory takes a synced write now (a file written, fsynced and removed). */
  probe(): void {
    const probe = `${this.file}.probe`;
    const fd = openSync(probe, 'w', 0o600);
    try {
      writeSync(fd, Buffer.from('probe\n'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      rmSync(probe, { force: true });
    }
  }

  #parse(file: string): SpoolEntry[] {
    const out: SpoolEntry[] = [];
    for (const line of lines(file)) {
      try {
        const e = JSON.parse(line) as SpoolEntry;
        if ((e.op === 'raise' && e.raise?.id) || (e.op === 'event' && e.event?.incidentId)) out.push(e);
        else this.#onBadLine(file, line);
      } catch {
        this.#onBadLine(file, line);
      }
    }
    return out;
  }
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function dropTornTail(file: string): void {
  if (!existsSync(file) || statSync(file).size === 0) return;
  const data = readFileSync(file);
  if (data[data.length - 1] === 0x0a) return;
  const keep = data.lastIndexOf(0x0a) + 1;
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, keep);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes a file's creation, rename or removal in `dir` durable. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the entry itself was fsynced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
