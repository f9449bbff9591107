import { createHash } from 'node:crypto';
import type { AuditEntry, AuditVerification } from './types.ts';

/** The hash that starts the chain. */
export const GENESIS_HASH = '0'.repeat(64);

export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

/** sha256 over the previous hash and every field of the entry, in a fixed order. */
export function entryHash(e: UnhashedEntry): string {
  return createHash('sha256')
    .update([e.prevHash, String(e.seq), e.at, e.room, e.kind, e.actor, e.detail].join('\u001f'))
    .digest('hex');
}

/**
 * Walks entries in seq order and names the first one whose hash or link is wrong. The first
 * remaining entry may link to a hash other than genesis only where a retention entry later in
 * the chain vouches for it (retention deletes the oldest entries and records the cut).
 */
export function verifyChain(entries: readonly AuditEntry[]): AuditVerification {
  const anchors = new Set<string>([GENESIS_HASH]);
  for (const e of entries) {
    if (e.kind === 'retention.applied') {
      const anchor = (JSON.parse(e.detail) as { anchorHash?: string }).anchorHash;
      if (anchor) anchors.add(anchor);
    }
  }
  let prev: AuditEntry | undefined;
  for (const e of entries) {
    if (entryHash(e) !== e.hash) return { ok: false, entries: entries.length, brokenAt: e.seq, reason: 'entry content does not match its hash' };
    if (prev === undefined) {
      if (!anchors.has(e.prevHash)) return { ok: false, entries: entries.length, brokenAt: e.seq, reason: 'first entry does not link to the genesis or a recorded retention cut' };
    } else {
      if (e.seq !== prev.seq + 1) return { ok: false, entries: entries.length, brokenAt: e.seq, reason: `entry ${prev.seq + 1} is missing` };
      if (e.prevHash !== prev.hash) return { ok: false, entries: entries.length, brokenAt: e.seq, reason: 'entry does not link to the previous entry' };
    }
    prev = e;
  }
  return { ok: true, entries: entries.length };
}
