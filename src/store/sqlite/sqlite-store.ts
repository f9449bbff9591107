import { Worker } from 'node:worker_threads';
import type { FieldCipher } from '../cipher.ts';
import type {
  AdmissionRecord, ConsentGrantRecord, AuditEntry, AuditHeadStatus, AuditVerification, Location, LocationUpdateRecord, ParticipantRecords,
  RefusalRecord, RevocationRecord, Store, WithdrawalRecord,
} from '../types.ts';
import type { Incident, IncidentEvent, IncidentRaise, IncidentStore, WebhookAttempt } from '../../domain/incident.ts';
import { DEFAULT_TIMEOUTS, LONG_CALL_MS, Liveness, PROBE_TIMEOUT_MS, sharedProbe, storeUnavailable, type StoreTimeouts } from '../unavailable.ts';
import { fromWire, type WorkerInit, type WorkerRequest, type WorkerResponse } from './protocol.ts';
import type { OpArgs, OpName, OpResult } from './worker.ts';

/** Requests waiting for the thread beyond which calls are refused at once (the thread is stuck: nothing is gained by queueing more). */
const MAX_WAITING = 1000;

interface Waiting {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  /** The call let through while the thread was silent (see Liveness). */
  trial: boolean;
}

/**
 * The embedded store: one SQLite file (WAL, synchronous=FULL: a write has reached the disk when
 * its promise resolves), run in a worker thread (worker.ts, database.ts) so that the event loop
 * never executes a SQLite statement. Every call has a deadline (`callTimeoutMs`, the maintenance
 * calls LONG_CALL_MS): past it the promise rejects with STORE_UNAVAILABLE. The thread runs
 * requests one at a time in call order, skips a request whose deadline passed before it started
 * and rolls back a transaction that reaches its deadline before COMMIT: a call that timed out did
 * not change anything, except when its COMMIT had started in time and finished late, and then it
 * committed before every later call ran (docs/records.md, "Store deadlines").
 */
export class SqliteStore implements Store {
  readonly #init: WorkerInit;
  readonly #t: StoreTimeouts;
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #head: number | undefined;
  #closed = false;
  readonly #live = new Liveness();
  readonly #ping = sharedProbe(() => this.#call('probe', [], Math.min(this.#t.callTimeoutMs, PROBE_TIMEOUT_MS)));
  /** Panic incidents, in the same database and audit chain. */
  readonly incidents: IncidentStore;

  constructor(file: string, cipher: FieldCipher, timeouts: Partial<StoreTimeouts> = {}) {
    this.#t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#init = { file, keys: cipher.keysForWorker().map((k) => ({ id: k.id, key: new Uint8Array(k.key) })), busyTimeoutMs: this.#t.sqliteBusyTimeoutMs };
    this.incidents = {
      raise: (r: IncidentRaise): Promise<{ incident: Incident; created: boolean }> => this.#call('incidentRaise', [r]),
      append: (e: IncidentEvent): Promise<Incident> => this.#call('incidentAppend', [e]),
      get: (id: string): Promise<Incident | undefined> => this.#call('incidentGet', [id]),
      events: (id: string): Promise<IncidentEvent[]> => this.#call('incidentEvents', [id]),
      open: (): Promise<Incident[]> => this.#call('incidentsOpen', [], LONG_CALL_MS),
      recordWebhookAttempt: (a: WebhookAttempt): Promise<void> => this.#call('recordWebhookAttempt', [a]),
      webhookAttempts: (id: string): Promise<WebhookAttempt[]> => this.#call('webhookAttempts', [id]),
    };
  }

  /** The thread, started on first use and again after it died. */
  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(new URL('./worker.ts', import.meta.url), { workerData: this.#init, name: 'sqlite-store' });
    w.on('message', (res: WorkerResponse) => this.#answer(res));
    // An exception in the thread ends it ('error', then 'exit'): every waiting call fails, the next call starts a new one.
    let failure: unknown;
    w.on('error', (err) => { failure = err; });
    w.on('exit', (code) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      for (const [id, c] of this.#waiting) {
        this.#forget(id, c);
        this.#live.leave(c.trial, { noAnswer: false });
        c.reject(storeUnavailable(`the SQLite store's thread exited (code ${code})`, failure));
      }
    });
    w.unref();
    this.#worker = w;
    return w;
  }

  #answer(res: WorkerResponse): void {
    if (res.head !== undefined && (this.#head === undefined || res.head >= this.#head)) this.#head = res.head;
    const c = this.#waiting.get(res.id);
    // A late answer (its caller was already told STORE_UNAVAILABLE) only updates the head position, and shows the thread is alive.
    if (!c) {
      this.#live.heard();
      return;
    }
    this.#forget(res.id, c);
    this.#live.leave(c.trial, { noAnswer: false });
    if (res.ok) c.resolve(res.value);
    else c.reject(fromWire(res.error, this.#t.sqliteBusyTimeoutMs));
  }

  #forget(id: number, c: Waiting): void {
    clearTimeout(c.timer);
    this.#waiting.delete(id);
    // The thread keeps the process alive only while a call waits for it.
    if (this.#waiting.size === 0) this.#worker?.unref();
  }

  #call<K extends OpName>(op: K, args: OpArgs<K>, ms = this.#t.callTimeoutMs): Promise<Awaited<OpResult<K>>> {
    if (this.#closed && op !== 'close') return Promise.reject(storeUnavailable('the store is closed'));
    if (this.#waiting.size >= MAX_WAITING) {
      return Promise.reject(storeUnavailable(`the SQLite store has ${this.#waiting.size} requests waiting: refused at once`));
    }
    let w: Worker;
    try {
      w = this.#thread();
    } catch (err) {
      return Promise.reject(storeUnavailable('the SQLite store\'s thread could not start', err));
    }
    // Closing always goes to the thread (it ends it either way).
    const gate = op === 'close' ? { trial: false } : this.#live.enter();
    if (gate instanceof Error) return Promise.reject(gate);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const c = this.#waiting.get(id);
        if (!c) return;
        this.#forget(id, c);
        const reason = `the SQLite store did not answer within ${ms} ms (${op})`;
        this.#live.leave(c.trial, { noAnswer: true, reason: 'the SQLite store did not answer in time' });
        reject(storeUnavailable(reason, undefined, true));
      }, ms);
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, trial: gate.trial });
      if (this.#waiting.size === 1) w.ref();
      const req: WorkerRequest = { id, op, args, deadline: Date.now() + ms };
      w.postMessage(req);
    });
  }

  migrate(): Promise<void> {
    return this.#call('migrate', [], LONG_CALL_MS);
  }

  recordAdmission(r: AdmissionRecord): Promise<void> {
    return this.#call('recordAdmission', [r]);
  }

  recordRefusal(r: RefusalRecord): Promise<void> {
    return this.#call('recordRefusal', [r]);
  }

  recordWithdrawal(r: WithdrawalRecord): Promise<void> {
    return this.#call('recordWithdrawal', [r]);
  }

  recordConsent(r: ConsentGrantRecord): Promise<void> {
    return this.#call('recordConsent', [r]);
  }

  recordLocation(r: LocationUpdateRecord): Promise<void> {
    return this.#call('recordLocation', [r]);
  }

  latestLocation(sessionId: string): Promise<Location | undefined> {
    return this.#call('latestLocation', [sessionId]);
  }

  recordRevocation(r: RevocationRecord): Promise<void> {
    return this.#call('recordRevocation', [r]);
  }

  activeRevocations(now: Date): Promise<RevocationRecord[]> {
    return this.#call('activeRevocations', [now]);
  }

  audit(e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }): Promise<void> {
    return this.#call('audit', [e]);
  }

  participants(room: string): Promise<ParticipantRecords[]> {
    return this.#call('participants', [room], LONG_CALL_MS);
  }

  sessionRecords(room: string, sessionId: string): Promise<ParticipantRecords | undefined> {
    return this.#call('sessionRecords', [room, sessionId]);
  }

  auditTrail(room?: string): Promise<AuditEntry[]> {
    return this.#call('auditTrail', [room], LONG_CALL_MS);
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.#call('verifyAudit', [], LONG_CALL_MS);
  }

  auditHead(): Promise<AuditHeadStatus> {
    return this.#call('auditHead', []);
  }

  auditHeadPosition(): number | undefined {
    return this.#head;
  }

  applyRetention(cutoff: Date, actor: string): Promise<{ sessions: number; auditEntries: number }> {
    return this.#call('applyRetention', [cutoff, actor], LONG_CALL_MS);
  }

  /** A write probe (a one-row transaction on store_probe), at most one a second: see sharedProbe. */
  ping(): Promise<boolean> {
    return this.#ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#worker;
    if (!w) return;
    try {
      await this.#call('close', []);
    } finally {
      this.#worker = undefined;
      await w.terminate();
    }
  }
}
