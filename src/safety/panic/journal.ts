import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { attempt, within } from '../../shared/deadline.ts';
import { entryIncidentId, replayEntry, type PanicSpool, type ReplayOutcome, type SpoolEntry } from './spool.ts';
import type { Incident, IncidentEvent, IncidentRaise, IncidentStore } from '../../domain/incident.ts';

/** Where an entry was when its write returned: in the store, in the (fsynced) spool, or only in memory. */
export type Durability = 'store' | 'spool' | 'memory';

export interface JournalStatus {
  /** False from a failed spool write until one succeeds again. */
  readonly spoolWritable: boolean;
  /** The last spool write error (`ENOSPC: ...`) while the spool is not writable. */
  readonly spoolError?: string | undefined;
  /** Entries in the spool, not yet in the store. */
  readonly spooled: number;
  /** Entries held in memory only: neither the store nor the spool has taken them yet. */
  readonly unpersisted: number;
}

/** For /readyz: not ready while the spool cannot be written or entries are held in memory only. */
export function journalReadiness(s: JournalStatus): { ok: boolean; reason?: string } {
  const reasons: string[] = [];
  if (!s.spoolWritable) reasons.push(`panic spool cannot be written (${s.spoolError})`);
  if (s.unpersisted > 0) reasons.push(`${s.unpersisted} panic raise(s)/event(s) held in memory only (not in the store or the spool)`);
  return reasons.length > 0 ? { ok: false, reason: reasons.join('; ') } : { ok: true };
}

export interface PanicJournalOptions {
  readonly store: IncidentStore;
  readonly spool: PanicSpool;
  /** How long a write waits for the store before the entry goes to the spool instead. */
  readonly deadlineMs: number;
  /** How often the backlog (spool, memory) is retried while there is one. */
  readonly retryMs: number;
  /** How often the spool's directory is checked for a synced write while nothing else writes it (default 10000). */
  readonly probeMs?: number | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
}

const noop = () => undefined;

/**
 * The panic channel's write path: every raise and event reaches the store, the spool or (when
 * neither takes it) memory within `deadlineMs`, and from there the store, in order, idempotently.
 *
 * - Direct: while there is no backlog, an entry is written to the store; if the store has not
 *   answered within the deadline (or fails), the entry is spooled and the caller goes on. A late
 *   store write that lands anyway is not duplicated: the replay skips what the store has.
 * - Backlog: once anything is spooled or held, every later entry joins the backlog behind it (so
 *   an incident's events never overtake its raise), until a flush has written all of it.
 * - Memory: an entry the spool cannot take (disk full) is held in memory, and so is every later
 *   entry until the held ones reach the spool or the store; reported in logs, metrics and status.
 *
 * Entries of one incident are decided one at a time, in call order.
 */
export class PanicJournal {
  readonly #o: PanicJournalOptions;
  readonly #held: SpoolEntry[] = [];
  /** Direct store writes not settled yet (some past their deadline): a flush waits for them. */
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #tails = new Map<string, Promise<unknown>>();
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #spoolError: string | undefined;
  #storeDownSince: number | undefined;

  constructor(opts: PanicJournalOptions) {
    this.#o = opts;
  }

  /** Whether new entries queue behind older ones instead of going to the store directly. */
  get backlogged(): boolean {
    return this.#held.length > 0 || this.#flushing !== undefined || this.#o.spool.pending;
  }

  status(): JournalStatus {
    return {
      spoolWritable: this.#spoolError === undefined,
      ...(this.#spoolError ? { spoolError: this.#spoolError } : {}),
      spooled: this.#o.spool.count,
      unpersisted: this.#held.length,
    };
  }

  /** Every entry not yet known to be in the store, oldest first (spool files, then memory). */
  pendingEntries(): SpoolEntry[] {
    return [...this.#o.spool.entries(), ...this.#held];
  }

  /** At start: replays what a previous run left in the spool, waiting at most `ms` (it goes on after). */
  async start(ms: number): Promise<void> {
    // Readiness knows about a spool that cannot be written before an alarm needs it.
    this.#probe();
    this.#probeTimer = setInterval(() => { if (this.#held.length === 0) this.#probe(); }, this.#o.probeMs ?? 10_000);
    this.#probeTimer.unref();
    this.#report();
    if (!this.#o.spool.pending) return;
    this.#arm();
    const flush = this.flushNow();
    const r = await within(flush, ms);
    if (!r.settled) this.#o.log.warn({ spooled: this.#o.spool.count, waitedMs: ms }, 'panic spool replay still running after start: continuing in the background');
  }

  raise(r: IncidentRaise): Promise<{ durability: Durability; stored?: { incident: Incident; created: boolean } | undefined }> {
    return this.#chain(r.id, async () => {
      const w = await this.#write({ op: 'raise', raise: r }, () => this.#o.store.raise(r));
      return { durability: w.durability, stored: w.value };
    });
  }

  event(e: IncidentEvent): Promise<{ durability: Durability; incident?: Incident | undefined }> {
    return this.#chain(e.incidentId, async () => {
      const w = await this.#write({ op: 'event', event: e }, () => this.#o.store.append(e));
      return { durability: w.durability, incident: w.value };
    });
  }

  #chain<T>(incidentId: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(incidentId) ?? Promise.resolve()).then(fn);
    const tail = run.then(noop, noop);
    this.#tails.set(incidentId, tail);
    void tail.then(() => { if (this.#tails.get(incidentId) === tail) this.#tails.delete(incidentId); });
    return run;
  }

  async #write<T>(entry: SpoolEntry, storeWrite: () => Promise<T>): Promise<{ durability: Durability; value?: T | undefined }> {
    if (this.backlogged) return { durability: this.#keep(entry) };
    const write = attempt(storeWrite);
    this.#inflight.add(write);
    void write.then(noop, noop).then(() => this.#inflight.delete(write));
    const r = await within(write, this.#o.deadlineMs);
    if (r.settled && r.ok) {
      this.#storeDownSince = undefined;
      return { durability: 'store', value: r.value };
    }
    const incidentId = entryIncidentId(entry);
    if (r.settled) {
      this.#o.metrics.panicStoreFallback('error');
      this.#o.log.error({ err: r.error, incidentId, op: entry.op }, 'store refused a panic write: spooled, delivery goes on');
    } else {
      this.#o.metrics.panicStoreFallback('timeout');
      this.#o.log.error({ incidentId, op: entry.op, deadlineMs: this.#o.deadlineMs }, 'store did not answer a panic write in time: spooled, delivery goes on');
    }
    this.#storeDownSince ??= Date.now();
    return { durability: this.#keep(entry) };
  }

  /** Puts an entry in the backlog: the spool, or memory when the spool fails or memory already holds older entries. */
  #keep(entry: SpoolEntry): Durability {
    this.#arm();
    if (this.#held.length === 0) {
      try {
        this.#o.spool.append(entry);
        this.#spoolOk();
        this.#report();
        return 'spool';
      } catch (err) {
        this.#spoolFailed(err);
      }
    }
    this.#held.push(entry);
    this.#report();
    this.#o.log.error(
      { incidentId: entryIncidentId(entry), op: entry.op, unpersisted: this.#held.length, spoolError: this.#spoolError },
      'PANIC ENTRY NOT PERSISTED: neither the store nor the spool took it; delivered, held in memory and retried',
    );
    return 'memory';
  }

  /** Starts the retry timer (idempotent). */
  #arm(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#o.retryMs);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#held.length > 0) this.#moveHeldToSpool();
    else if (this.#spoolError) this.#probe();
    if (!this.#flushing && (this.#o.spool.pending || this.#held.length > 0)) void this.flushNow();
    if (!this.backlogged && !this.#spoolError && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    this.#report();
  }

  /** Held entries to the spool, oldest first, up to the first that fails. */
  #moveHeldToSpool(): void {
    let moved = 0;
    while (this.#held.length > 0) {
      try {
        this.#o.spool.append(this.#held[0]!);
      } catch (err) {
        this.#spoolFailed(err);
        break;
      }
      this.#held.shift();
      moved++;
      this.#spoolOk();
    }
    if (moved > 0) this.#o.log.warn({ moved, unpersisted: this.#held.length }, 'panic entries held in memory are now in the spool');
  }

  #probe(): void {
    try {
      this.#o.spool.probe();
      this.#spoolOk();
    } catch (err) {
      this.#spoolFailed(err);
      this.#arm(); // probed again every retry until it can be written
    }
  }

  /** One attempt at writing the whole backlog to the store (joins the running one, if any). */
  flushNow(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
      this.#report();
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    let n = 0;
    try {
      // A late direct write must land (or fail) before its entry is replayed: never two writers of one entry.
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      do {
        n += await this.#o.spool.flush(this.#o.store, (e, outcome) => this.#replayed(e, outcome));
        while (this.#held.length > 0) {
          const e = this.#held[0]!;
          this.#replayed(e, await replayEntry(this.#o.store, e));
          // (moved to the spool meanwhile otherwise: the spool's replay then finds it present)
          if (this.#held[0] === e) this.#held.shift();
          n++;
          this.#report();
        }
      } while (this.#o.spool.pending);
      if (n > 0) {
        const downMs = this.#storeDownSince === undefined ? undefined : Date.now() - this.#storeDownSince;
        this.#o.log.warn({ entries: n, downMs }, 'panic backlog written to the store');
      }
      this.#storeDownSince = undefined;
    } catch (err) {
      this.#o.log.debug({ err, written: n, spooled: this.#o.spool.count, unpersisted: this.#held.length }, 'panic backlog: store still unavailable');
    }
  }

  #replayed(e: SpoolEntry, outcome: ReplayOutcome): void {
    if (outcome === 'conflict') {
      this.#o.log.error({ incidentId: entryIncidentId(e) }, 'spooled panic raise: the store already holds its client key under another incident; kept that one');
    } else if (outcome === 'orphan') {
      this.#o.log.warn({ incidentId: entryIncidentId(e), type: e.op === 'event' ? e.event.type : e.op }, 'spooled panic event for an incident the store does not have: dropped');
    }
  }

  #spoolOk(): void {
    if (this.#spoolError === undefined) return;
    this.#o.log.warn({ was: this.#spoolError }, 'panic spool writable again');
    this.#spoolError = undefined;
  }

  #spoolFailed(err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    const why = `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}`;
    this.#o.metrics.panicSpoolFailed();
    if (this.#spoolError === undefined) this.#o.log.error({ err, file: this.#o.spool.file }, 'PANIC SPOOL CANNOT BE WRITTEN: alarms are still delivered; entries are held in memory until the store or the spool takes them');
    this.#spoolError = why;
  }

  #report(): void {
    this.#o.metrics.panicBacklog(this.#o.spool.count, this.#held.length);
  }

  /** Stops retrying; entries still held in memory get one last try at the spool. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#timer = undefined;
    this.#probeTimer = undefined;
    if (this.#held.length > 0) this.#moveHeldToSpool();
    if (this.#held.length > 0) {
      this.#o.log.error({ unpersisted: this.#held.length, spoolError: this.#spoolError }, 'PANIC ENTRIES LOST AT SHUTDOWN: neither the store nor the spool took them');
    }
  }
}
