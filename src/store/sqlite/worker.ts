import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { FieldCipher } from '../cipher.ts';
import type { AdmissionRecord, ConsentGrantRecord, LocationUpdateRecord, RefusalRecord, RevocationRecord, WithdrawalRecord } from '../types.ts';
import type { IncidentEvent, IncidentRaise, WebhookAttempt } from '../../domain/incident.ts';
import { SqliteDatabase } from './database.ts';
import { toWire, type WorkerInit, type WorkerRequest, type WorkerResponse } from './protocol.ts';

/**
 * The SQLite store's thread: opens the database (node:sqlite, synchronous) and runs the named
 * operations below, one request at a time in arrival order. The main event loop never executes a
 * SQLite statement: a lock held by another process, a slow fsync or a full disk stalls this
 * thread only, and SqliteStore answers its callers within their deadline whatever happens here.
 */
export const OPS = {
  migrate: (db: SqliteDatabase) => db.migrate(),
  recordAdmission: (db: SqliteDatabase, r: AdmissionRecord) => db.recordAdmission(r),
  recordRefusal: (db: SqliteDatabase, r: RefusalRecord) => db.recordRefusal(r),
  recordWithdrawal: (db: SqliteDatabase, r: WithdrawalRecord) => db.recordWithdrawal(r),
  recordConsent: (db: SqliteDatabase, r: ConsentGrantRecord) => db.recordConsent(r),
  recordLocation: (db: SqliteDatabase, r: LocationUpdateRecord) => db.recordLocation(r),
  latestLocation: (db: SqliteDatabase, sessionId: string) => db.latestLocation(sessionId),
  recordRevocation: (db: SqliteDatabase, r: RevocationRecord) => db.recordRevocation(r),
  activeRevocations: (db: SqliteDatabase, now: Date) => db.activeRevocations(now),
  audit: (db: SqliteDatabase, e: { room: string; kind: string; actor: string; detail: Record<string, unknown>; at: Date }) => db.audit(e),
  participants: (db: SqliteDatabase, room: string) => db.participants(room),
  sessionRecords: (db: SqliteDatabase, room: string, sessionId: string) => db.sessionRecords(room, sessionId),
  auditTrail: (db: SqliteDatabase, room: string | undefined) => db.auditTrail(room),
  verifyAudit: (db: SqliteDatabase) => db.verifyAudit(),
  auditHead: (db: SqliteDatabase) => db.auditHead(),
  applyRetention: (db: SqliteDatabase, cutoff: Date, actor: string) => db.applyRetention(cutoff, actor),
  probe: (db: SqliteDatabase) => db.probe(),
  close: (db: SqliteDatabase) => db.close(),
  incidentRaise: (db: SqliteDatabase, r: IncidentRaise) => db.incidents.raise(r),
  incidentAppend: (db: SqliteDatabase, e: IncidentEvent) => db.incidents.append(e),
  incidentGet: (db: SqliteDatabase, id: string) => db.incidents.get(id),
  incidentEvents: (db: SqliteDatabase, id: string) => db.incidents.events(id),
  incidentsOpen: (db: SqliteDatabase) => db.incidents.open(),
  recordWebhookAttempt: (db: SqliteDatabase, a: WebhookAttempt) => db.incidents.recordWebhookAttempt(a),
  webhookAttempts: (db: SqliteDatabase, id: string) => db.incidents.webhookAttempts(id),
} as const;

export type Ops = typeof OPS;
export type OpName = keyof Ops;
/** An operation's arguments, without the database. */
export type OpArgs<K extends OpName> = Ops[K] extends (db: SqliteDatabase, ...args: infer A) => unknown ? A : never;
export type OpResult<K extends OpName> = ReturnType<Ops[K]>;

function serve(init: WorkerInit): void {
  const port = parentPort!;
  let db: SqliteDatabase | undefined;
  let openError: unknown;
  try {
    db = new SqliteDatabase(init.file, new FieldCipher(init.keys.map((k) => ({ id: k.id, key: Buffer.from(k.key) }))), { busyTimeoutMs: init.busyTimeoutMs });
  } catch (err) {
    openError = err;
  }
  port.on('message', (req: WorkerRequest) => {
    let res: WorkerResponse;
    const head = () => db?.auditHeadPosition();
    if (Date.now() >= req.deadline) {
      res = { id: req.id, ok: false, error: { name: 'Error', message: `the store did not start the request (${req.op}) before its deadline`, expired: true }, head: head() };
    } else if (!db) {
      res = { id: req.id, ok: false, error: toWire(openError), head: undefined };
    } else {
      try {
        db.beginRequest(req.deadline);
        const fn = OPS[req.op as OpName] as ((d: SqliteDatabase, ...a: readonly unknown[]) => unknown) | undefined;
        if (!fn) throw new Error(`unknown store operation ${req.op}`);
        res = { id: req.id, ok: true, value: fn(db, ...req.args), head: head() };
      } catch (err) {
        res = { id: req.id, ok: false, error: toWire(err), head: head() };
      }
    }
    try {
      port.postMessage(res);
    } catch (err) {
      // A value that cannot cross the thread boundary (a bug): the caller gets the error, the thread goes on.
      port.postMessage({ id: req.id, ok: false, error: toWire(err), head: db?.auditHeadPosition() } satisfies WorkerResponse);
    }
  });
}

if (!isMainThread && parentPort) serve(workerData as WorkerInit);
