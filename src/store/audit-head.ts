import { createHmac, timingSafeEqual } from 'node:crypto';
import { CHECKPOINT_MISMATCH, describeMissing, verifyChain } from './audit-chain.ts';
import type { FieldCipher } from './cipher.ts';
import type { AuditCheckpoint, AuditEntry, AuditHeadStatus, AuditVerification } from './types.ts';

/**
 * The signed head checkpoint of the audit trail (docs/records.md, "What verification detects").
 *
 * A hash chain shows that no entry was changed, inserted or removed in the middle, but deleting
 * the newest entries leaves a shorter chain that is just as consistent. So every append also
 * rewrites, in the same transaction, one row kept apart from the entries (table audit_head): the
 * position and hash of the newest entry, signed with HMAC-SHA256 under a key derived (HKDF) from
 * the newest records key. A DELETE of entries leaves the checkpoint naming a position the trail no
 * longer reaches; rewriting the checkpoint to match needs the key.
 *
 * The checkpoint and the entries commit together, so there is no crash window in which one is
 * ahead of the other: a checkpoint that is behind or ahead of the trail is never a crash, always a
 * change made outside this service (or by a node of a version without checkpoints).
 */

/** HKDF info: the checkpoint key is bound to this purpose and can open nothing. */
export const CHECKPOINT_KEY_PURPOSE = 'telepractice-sfu audit head checkpoint v1';

export interface Head {
  readonly seq: number;
  readonly hash: string;
}

/** Signs and checks checkpoints with keys derived from the records keys (the newest signs; any configured one checks). */
export class CheckpointSigner {
  readonly #cipher: FieldCipher;
  readonly #keys = new Map<string, Buffer | undefined>();
  /** The last checkpoint signed or found valid here: the one every append finds, checked without another HMAC. */
  #known: AuditCheckpoint | undefined;

  constructor(cipher: FieldCipher) {
    this.#cipher = cipher;
  }

  #key(id: string): Buffer | undefined {
    if (!this.#keys.has(id)) this.#keys.set(id, this.#cipher.derive(CHECKPOINT_KEY_PURPOSE, id)?.key);
    return this.#keys.get(id);
  }

  static #mac(key: Buffer, seq: number, hash: string, at: string, keyId: string): string {
    return createHmac('sha256', key).update(['sfu-audit-head-v1', String(seq), hash, at, keyId].join('\u001f')).digest('hex');
  }

  sign(head: Head, at: Date): AuditCheckpoint {
    const keyId = this.#cipher.currentKeyId;
    const iso = at.toISOString();
    const cp = { seq: head.seq, hash: head.hash, at: iso, keyId, mac: CheckpointSigner.#mac(this.#key(keyId)!, head.seq, head.hash, iso, keyId) };
    this.#known = cp;
    return cp;
  }

  check(cp: AuditCheckpoint): 'valid' | 'invalid' | 'unknown-key' {
    const k = this.#known;
    if (k && k.seq === cp.seq && k.hash === cp.hash && k.at === cp.at && k.keyId === cp.keyId && k.mac === cp.mac) return 'valid';
    const key = this.#key(cp.keyId);
    if (!key) return 'unknown-key';
    const want = Buffer.from(CheckpointSigner.#mac(key, cp.seq, cp.hash, cp.at, cp.keyId), 'hex');
    const got = Buffer.from(cp.mac, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return 'invalid';
    this.#known = { ...cp };
    return 'valid';
  }
}

/** What is wrong between the trail's end and the checkpoint. */
export interface HeadFinding {
  readonly problem: 'missing' | 'unknown-key' | 'signature' | 'truncated' | 'diverged' | 'unsigned';
  /** The position to report (AuditVerification.brokenAt). */
  readonly at: number;
  readonly firstMissing?: number;
  readonly reason: string;
}

/** What a store reads to compare the trail's end with the checkpoint. */
export interface HeadState {
  /** The newest entry, if any. */
  readonly newest: Head | undefined;
  readonly checkpoint: AuditCheckpoint | undefined;
  /** Hash of the entry at the checkpoint's position, if there is one. */
  readonly hashAtCheckpoint: string | undefined;
}

const short = (hash: string) => hash.slice(0, 16);

/**
 * Compares the trail's newest entry with the signed checkpoint. Undefined when they agree (or the
 * trail is new: no entry and no checkpoint).
 */
export function inspectHead(s: HeadState, signer: CheckpointSigner): HeadFinding | undefined {
  const { newest, checkpoint: cp } = s;
  if (!cp) {
    if (!newest) return undefined;
    return {
      problem: 'missing', at: newest.seq + 1,
      reason: `the signed head checkpoint is missing although the trail has entries up to ${newest.seq}: entries after ${newest.seq} may have been deleted with it`,
    };
  }
  const mac = signer.check(cp);
  if (mac === 'unknown-key') {
    return { problem: 'unknown-key', at: cp.seq, reason: `the head checkpoint (entry ${cp.seq}) is signed with records key "${cp.keyId}", which is not configured` };
  }
  if (mac === 'invalid') {
    return { problem: 'signature', at: cp.seq, reason: `the head checkpoint (entry ${cp.seq}) does not carry a valid signature: it was altered or forged` };
  }
  if (!newest) {
    return {
      problem: 'truncated', at: cp.seq,
      reason: `the trail is empty but the signed head checkpoint names entry ${cp.seq} (${short(cp.hash)}): its entries were deleted`,
    };
  }
  if (newest.seq < cp.seq) {
    return {
      problem: 'truncated', at: newest.seq + 1, firstMissing: newest.seq + 1,
      reason: `${describeMissing(newest.seq + 1, cp.seq)}: the trail ends at entry ${newest.seq}, the signed head checkpoint names entry ${cp.seq} (${short(cp.hash)})`,
    };
  }
  if (s.hashAtCheckpoint === undefined) {
    return { problem: 'diverged', at: cp.seq, firstMissing: cp.seq, reason: `entry ${cp.seq}, named by the signed head checkpoint, is missing` };
  }
  if (s.hashAtCheckpoint !== cp.hash) {
    return { problem: 'diverged', at: cp.seq, reason: `entry ${cp.seq} is not the one the signed head checkpoint names (${short(cp.hash)}): the trail was replaced at or before it` };
  }
  if (newest.seq > cp.seq) {
    return {
      problem: 'unsigned', at: cp.seq + 1,
      reason: `${newest.seq === cp.seq + 1 ? `entry ${newest.seq} comes` : `entries ${cp.seq + 1} to ${newest.seq} come`} after the signed head checkpoint (entry ${cp.seq}): not appended by this service`,
    };
  }
  return undefined;
}

/** How an append proceeds from what it found: the entry to link to, and the mismatch to record first, if any. */
export function planAppend(s: HeadState, signer: CheckpointSigner): { link: Head | undefined; mismatch?: Record<string, unknown> } {
  const finding = inspectHead(s, signer);
  if (!finding) return { link: s.newest };
  // Deleted from the end: continue after the checkpoint so that the positions stay unique and the
  // gap stays in the chain as evidence. Otherwise continue after the newest entry.
  const link = finding.problem === 'truncated' ? { seq: s.checkpoint!.seq, hash: s.checkpoint!.hash } : s.newest;
  return {
    link,
    mismatch: {
      problem: finding.problem, reason: finding.reason,
      ...(finding.firstMissing !== undefined ? { firstMissing: finding.firstMissing } : {}),
      newest: s.newest ? { seq: s.newest.seq, hash: s.newest.hash } : null,
      checkpoint: s.checkpoint ? { seq: s.checkpoint.seq, hash: s.checkpoint.hash, keyId: s.checkpoint.keyId } : null,
    },
  };
}

/** Kind, actor and room of the entry that records a mismatch. */
export const MISMATCH_ENTRY = { kind: CHECKPOINT_MISMATCH, actor: 'audit', room: '*' } as const;

/** The whole trail (in seq order) against the checkpoint: the chain first, then that it reaches the checkpoint. */
export function verifyTrail(entries: readonly AuditEntry[], checkpoint: AuditCheckpoint | undefined, signer: CheckpointSigner): AuditVerification {
  const chain = verifyChain(entries);
  if (!chain.ok) return { ...chain, checkpoint: checkpoint ?? null };
  const newest = entries.at(-1);
  // The chain verified, so positions are consecutive from the first entry.
  const atCp = checkpoint && newest ? entries[checkpoint.seq - entries[0]!.seq] : undefined;
  const finding = inspectHead({
    newest, checkpoint, hashAtCheckpoint: atCp?.seq === checkpoint?.seq ? atCp?.hash : undefined,
  }, signer);
  if (!finding) return { ok: true, entries: entries.length, checkpoint: checkpoint ?? null };
  return {
    ok: false, entries: entries.length, brokenAt: finding.at,
    ...(finding.firstMissing !== undefined ? { firstMissing: finding.firstMissing } : {}), reason: finding.reason,
    checkpoint: checkpoint ?? null,
  };
}

/**
 * Compares the trail (in seq order) with a head exported earlier (metric, log line, admin API):
 * the trail must still hold that entry. This is what detects a rollback of the whole data dir or
 * database (entries and checkpoint restored together from an old backup). Undefined when it holds
 * it, or when retention has since removed that position (nothing left to compare).
 */
export function compareExportedHead(entries: readonly AuditEntry[], exported: Head): HeadFinding | undefined {
  const newest = entries.at(-1);
  if (!newest || newest.seq < exported.seq) {
    const from = newest ? newest.seq + 1 : undefined;
    return {
      problem: 'truncated', at: from ?? exported.seq, ...(from !== undefined ? { firstMissing: from } : {}),
      reason: `${from !== undefined ? describeMissing(from, exported.seq) : `every entry up to ${exported.seq} is missing`}: the trail ${newest ? `ends at entry ${newest.seq}` : 'is empty'}, but the exported head names entry ${exported.seq} (${short(exported.hash)}): the store was truncated or restored from an older copy`,
    };
  }
  const e = entries.find((x) => x.seq === exported.seq);
  if (!e) return entries[0]!.seq > exported.seq ? undefined : { problem: 'diverged', at: exported.seq, firstMissing: exported.seq, reason: `entry ${exported.seq}, named by the exported head, is missing` };
  if (e.hash !== exported.hash) {
    return { problem: 'diverged', at: exported.seq, reason: `entry ${exported.seq} is not the one the exported head names (${short(exported.hash)}): the trail was replaced at or before it` };
  }
  return undefined;
}

/** The cheap check behind Store.auditHead(). */
export function headStatus(s: HeadState, signer: CheckpointSigner): AuditHeadStatus {
  const finding = inspectHead(s, signer);
  const checkpoint = s.checkpoint ?? null;
  if (!finding) return { ok: true, checkpoint };
  return { ok: false, checkpoint, brokenAt: finding.at, ...(finding.firstMissing !== undefined ? { firstMissing: finding.firstMissing } : {}), reason: finding.reason };
}

/**
 * One query, the same in SQLite and PostgreSQL: the newest entry, the checkpoint row and the hash of
 * the entry at the checkpoint's position.
 */
export const HEAD_STATE_SQL = `SELECT l.seq AS last_seq, l.hash AS last_hash, h.seq AS cp_seq, h.hash AS cp_hash, h.at AS cp_at,
    h.key_id AS cp_key_id, h.mac AS cp_mac, (SELECT a.hash FROM audit a WHERE a.seq = h.seq) AS cp_entry_hash
  FROM (SELECT 1 AS one) o
  LEFT JOIN (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) l ON 1 = 1
  LEFT JOIN audit_head h ON h.id = 1`;

/** Writes the checkpoint row (the only one, id 1). Parameters: seq, hash, at, key_id, mac. */
export function upsertCheckpointSql(p: (i: number) => string): string {
  return `INSERT INTO audit_head (id, seq, hash, at, key_id, mac) VALUES (1, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})
    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, key_id = excluded.key_id, mac = excluded.mac`;
}

export const CHECKPOINT_SQL = 'SELECT seq, hash, at, key_id, mac FROM audit_head WHERE id = 1';

type Nullable<T> = T | null | undefined;

/** HEAD_STATE_SQL's row (numbers may come back as strings from PostgreSQL's BIGINT). */
export function headStateFromRow(r: Record<string, unknown> | undefined): HeadState {
  const str = (v: unknown) => (v === null || v === undefined ? undefined : String(v));
  const row = (r ?? {}) as Record<string, Nullable<string | number | bigint>>;
  const newest = row.last_seq === null || row.last_seq === undefined ? undefined : { seq: Number(row.last_seq), hash: String(row.last_hash) };
  const checkpoint = row.cp_seq === null || row.cp_seq === undefined ? undefined : {
    seq: Number(row.cp_seq), hash: String(row.cp_hash), at: String(row.cp_at), keyId: String(row.cp_key_id), mac: String(row.cp_mac),
  };
  return { newest, checkpoint, hashAtCheckpoint: str(row.cp_entry_hash) };
}

/** CHECKPOINT_SQL's row. */
export function checkpointFromRow(r: Record<string, unknown> | undefined): AuditCheckpoint | undefined {
  if (!r) return undefined;
  return { seq: Number(r.seq), hash: String(r.hash), at: String(r.at), keyId: String(r.key_id), mac: String(r.mac) };
}

/**
 * Per-transaction state of appends: the head is read once (at the first append, or at the start of
 * retention, before it deletes anything), kept in memory while the transaction holds the write
 * lock, and signed once before COMMIT.
 */
export interface TxHead {
  loaded: boolean;
  head: Head | undefined;
  dirty: boolean;
}

export const newTxHead = (): TxHead => ({ loaded: false, head: undefined, dirty: false });

/**
 * The head this node knows: the highest checkpoint it wrote or read since start (commits of
 * concurrent transactions may resolve out of order), for `auditHeadPosition()` without a query.
 */
export class KnownHead {
  #checkpoint: AuditCheckpoint | undefined;
  #read = false;

  /** A checkpoint written or read; `read` marks that the store was looked at (an empty trail is position 0). */
  note(cp: AuditCheckpoint | undefined, read = false): void {
    if (cp && (!this.#checkpoint || cp.seq >= this.#checkpoint.seq)) this.#checkpoint = cp;
    if (read) this.#read = true;
  }

  /** The newest entry's position, 0 for an empty trail, undefined before the store was read. */
  get position(): number | undefined {
    return this.#checkpoint?.seq ?? (this.#read ? 0 : undefined);
  }
}
