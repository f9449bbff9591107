import { createHash } from 'node:crypto';
import type { AuditEntry, AuditVerification } from './types.ts';

/** The hash that starts the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The kind of the entry an append writes first when it finds that the trail does not reach the
 * signed head checkpoint (entries deleted from the end, checkpoint missing or forged: see
 * audit-head.ts). Its detail says what was found; verification reports it for ever after.
 */
export const CHECKPOINT_MISMATCH = 'audit.checkpoint-mismatch';

export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

/** sha256 over the previous hash and every field of the entry, in a fixed order. */
export function entryHash(e: UnhashedEntry): string {
  return createHash('sha256')
    .update([e.prevHash, String(e.seq), e.at, e.room, e.kind, e.actor, e.detail].join('\u001f'))
    .digest('hex');
}

function missing(from: number, to: number): string {
  return from === to ? `entry ${from} is missing` : `entries ${from} to ${to} are missing`;
}

/**
 * Walks entries in seq order and names the first one whose hash or link is wrong. The first
 * remaining entry may link to a hash other than genesis only where a retention entry later in
 * the chain vouches for it (retention deletes the oldest entries and records the cut). An entry
 * recording a checkpoint mismatch (CHECKPOINT_MISMATCH) fails the chain at that entry.
 *
 * This checks the chain only: that nothing was deleted from its end needs the signed head
 * checkpoint (verifyTrail in audit-head.ts).
 */
export function verifyChain(entries: readonly AuditEntry[]): AuditVerification {
  const anchors = new Set<string>([GENESIS_HASH]);
  for (const e of entries) {
    if (e.kind === 'retention.applied') {
      const anchor = (JSON.parse(e.detail) as { anchorHash?: string }).anchorHash;
      if (anchor) anchors.add(anchor);
    }
  }
  const n = entries.length;
  let prev: AuditEntry | undefined;
  for (const e of entries) {
    if (entryHash(e) !== e.hash) return { ok: false, entries: n, brokenAt: e.seq, reason: 'entry content does not match its hash' };
    if (e.kind === CHECKPOINT_MISMATCH) {
      const d = JSON.parse(e.detail) as { reason?: string; firstMissing?: number };
      return {
        ok: false, entries: n, brokenAt: e.seq, ...(typeof d.firstMissing === 'number' ? { firstMissing: d.firstMissing } : {}),
        reason: `when entry ${e.seq} was appended (${e.at}) the trail did not reach its signed head checkpoint: ${d.reason ?? 'no reason recorded'}`,
      };
    }
    if (prev === undefined) {
      if (!anchors.has(e.prevHash)) return { ok: false, entries: n, brokenAt: e.seq, reason: 'first entry does not link to the genesis or a recorded retention cut' };
    } else {
      if (e.seq !== prev.seq + 1) return { ok: false, entries: n, brokenAt: e.seq, firstMissing: prev.seq + 1, reason: missing(prev.seq + 1, e.seq - 1) };
      if (e.prevHash !== prev.hash) return { ok: false, entries: n, brokenAt: e.seq, reason: 'entry does not link to the previous entry' };
    }
    prev = e;
  }
  return { ok: true, entries: n };
}

export { missing as describeMissing };
