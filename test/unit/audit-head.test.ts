import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, entryHash } from '../../src/store/audit-chain.ts';
import { CheckpointSigner, compareExportedHead, inspectHead, planAppend, verifyTrail } from '../../src/store/audit-head.ts';
import { FieldCipher } from '../../src/store/cipher.ts';
import type { AuditEntry } from '../../src/store/types.ts';

const A = { id: 'a', key: randomBytes(32) };
const B = { id: 'b', key: randomBytes(32) };

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const e = { seq, at: `2026-12-01T00:00:0${seq % 10}.000Z`, room: 'r', kind: 'k', actor: 'x', detail: '{}', prevHash: out.at(-1)?.hash ?? GENESIS_HASH };
    out.push({ ...e, hash: entryHash(e) });
  }
  return out;
}

describe('signed audit head checkpoint', () => {
  const signer = new CheckpointSigner(new FieldCipher([A]));
  const trail = chain(6);
  const cp = signer.sign(trail[5]!, new Date());

  it('signs with a key derived from the newest records key; any field changed breaks the signature', () => {
    expect(cp).toMatchObject({ seq: 6, hash: trail[5]!.hash, keyId: 'a' });
    expect(new CheckpointSigner(new FieldCipher([A])).check(cp)).toBe('valid');
    expect(new CheckpointSigner(new FieldCipher([B, A])).check(cp)).toBe('valid');
    expect(new CheckpointSigner(new FieldCipher([B])).check(cp)).toBe('unknown-key');
    const fresh = new CheckpointSigner(new FieldCipher([A]));
    for (const forged of [{ ...cp, seq: 5 }, { ...cp, hash: trail[4]!.hash }, { ...cp, at: new Date(0).toISOString() }, { ...cp, mac: '00'.repeat(32) }, { ...cp, mac: 'zz' }]) {
      expect(fresh.check(forged)).toBe('invalid');
    }
    // The derived key is not the records key itself.
    expect(new FieldCipher([A]).derive('telepractice-sfu audit head checkpoint v1')!.key.equals(A.key)).toBe(false);
  });

  it('verifies an intact trail and names the first missing position after truncation', () => {
    expect(verifyTrail(trail, cp, signer)).toMatchObject({ ok: true, entries: 6 });
    expect(verifyTrail(trail.slice(0, 5), cp, signer)).toMatchObject({ ok: false, brokenAt: 6, firstMissing: 6, reason: expect.stringContaining('entry 6 is missing') });
    expect(verifyTrail(trail.slice(0, 3), cp, signer)).toMatchObject({ ok: false, brokenAt: 4, firstMissing: 4, reason: expect.stringContaining('entries 4 to 6 are missing') });
    expect(verifyTrail([], cp, signer)).toMatchObject({ ok: false, brokenAt: 6 });
    expect(verifyTrail(trail.slice(0, 3), undefined, signer)).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringContaining('checkpoint is missing') });
    expect(verifyTrail([], undefined, signer)).toEqual({ ok: true, entries: 0, checkpoint: null });
    expect(verifyTrail([...trail, ...chain(7).slice(6)], cp, signer)).toMatchObject({ ok: false, brokenAt: 7, reason: expect.stringContaining('after the signed head checkpoint') });
  });

  it('an append after a truncation continues after the checkpoint and records the mismatch', () => {
    const plan = planAppend({ newest: trail[2], checkpoint: cp, hashAtCheckpoint: undefined }, signer);
    expect(plan.link).toEqual({ seq: 6, hash: trail[5]!.hash });
    expect(plan.mismatch).toMatchObject({ problem: 'truncated', firstMissing: 4, newest: { seq: 3 }, checkpoint: { seq: 6 } });
    expect(planAppend({ newest: trail[5], checkpoint: cp, hashAtCheckpoint: trail[5]!.hash }, signer)).toEqual({ link: trail[5] });
    expect(inspectHead({ newest: undefined, checkpoint: undefined, hashAtCheckpoint: undefined }, signer)).toBeUndefined();
  });

  it('compares the trail with an exported head (rollback detection)', () => {
    expect(compareExportedHead(trail, trail[5]!)).toBeUndefined();
    expect(compareExportedHead(trail.slice(0, 3), trail[5]!)).toMatchObject({ firstMissing: 4, at: 4 });
    expect(compareExportedHead(trail, { seq: 6, hash: 'f'.repeat(64) })).toMatchObject({ problem: 'diverged', at: 6 });
    expect(compareExportedHead(trail.slice(3), trail[1]!)).toBeUndefined(); // cut by retention since: nothing to compare
  });
});
