import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { entryHash } from '../../src/store/audit-chain.ts';
import { FieldCipher } from '../../src/store/cipher.ts';
import type { DataKey } from '../../src/config/secrets.ts';
import type { AdmissionRecord, Store } from '../../src/store/types.ts';

/** What an adapter's test file provides to the shared suite. */
export interface StoreHarness {
  /** Opens the store (same database each call) with the given record keys, migrated. */
  open(keys: DataKey[]): Promise<Store>;
  /** Runs raw SQL against the database behind the store's back (tampering). */
  exec(sql: string): Promise<void>;
  /** Every text value in the database, for at-rest checks. */
  dump(): Promise<string>;
}

export const KEY_A: DataKey = { id: 'k1', key: randomBytes(32) };
export const KEY_B: DataKey = { id: 'k2', key: randomBytes(32) };

export function admission(sessionId: string, over: Partial<AdmissionRecord> = {}): AdmissionRecord {
  return {
    sessionId,
    room: 'room-1',
    identity: `id-${sessionId}`,
    role: 'student',
    consent: { policyVersion: '2026-09', scopes: ['telehealth'], grantedBy: { relation: 'guardian', name: 'Pat Guardian-Name' }, method: 'electronic' },
    location: {
      description: 'Lincoln Elementary, room 12', region: 'US-CA', source: 'self-reported', capturedAt: '2026-11-22T10:00:00.000Z',
      emergencyContact: { name: 'Robin Contact', phone: '+1-555-0100' },
    },
    at: new Date('2026-11-22T10:00:01.000Z'),
    remoteAddress: '198.51.100.23',
    ...over,
  };
}

/** The behaviour every Store adapter must have (run against SQLite and PostgreSQL). */
export function storeSuite(name: string, harness: () => StoreHarness) {
  describe(`${name} store`, () => {
    const opened: Store[] = [];
    const open = async (keys: DataKey[] = [KEY_A]) => {
      const s = await harness().open(keys);
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    it('records an admission and reads it back decrypted', async () => {
      const s = await open();
      await s.recordAdmission(admission('s1'));
      const [p] = await s.participants('room-1');
      expect(p).toMatchObject({ sessionId: 's1', identity: 'id-s1', role: 'student' });
      expect(p!.consents).toEqual([expect.objectContaining({ kind: 'grant', policyVersion: '2026-09', scopes: ['telehealth'], grantedBy: { relation: 'guardian', name: 'Pat Guardian-Name' } })]);
      expect(p!.locations[0]).toMatchObject({ region: 'US-CA', description: 'Lincoln Elementary, room 12', emergencyContact: { phone: '+1-555-0100' } });
      expect(p!.locations[0]!.coordinates).toBeUndefined();
      expect(await s.participants('other-room')).toEqual([]);
    });

    it('reads one session\'s records (a restore): the same as in the room\'s list, only in its room', async () => {
      const s = await open();
      await s.recordAdmission(admission('sr1'));
      await s.recordAdmission(admission('sr2'));
      await s.recordWithdrawal({ sessionId: 'sr1', room: 'room-1', identity: 'id-sr1', scopes: ['telehealth'], at: new Date() });
      await s.recordLocation({ sessionId: 'sr1', room: 'room-1', identity: 'id-sr1', at: new Date(), location: { ...admission('x').location, description: 'Home, kitchen', source: 'device-geolocation' } });
      const one = await s.sessionRecords('room-1', 'sr1');
      expect(one).toEqual((await s.participants('room-1')).find((p) => p.sessionId === 'sr1'));
      expect(one!.consents.map((c) => c.kind)).toEqual(['grant', 'withdrawal']);
      expect(one!.locations.map((l) => l.description)).toEqual(['Lincoln Elementary, room 12', 'Home, kitchen']);
      expect(await s.sessionRecords('room-1', 'nobody')).toBeUndefined();
      // A session of another room is not this room's.
      expect(await s.sessionRecords('other-room', 'sr1')).toBeUndefined();
    });

    it('keeps names, locations, contacts and addresses encrypted at rest', async () => {
      const s = await open();
      await s.recordAdmission(admission('s2', {
        location: { ...admission('x').location, coordinates: { lat: 37.123456, lon: -122.654321, accuracyMeters: 20 } },
      }));
      const raw = await harness().dump();
      for (const secret of ['Pat Guardian-Name', 'Lincoln', 'Robin Contact', '555-0100', 'US-CA', '37.123456', '198.51.100.23']) {
        expect(raw).not.toContain(secret);
      }
      expect((await s.latestLocation('s2'))!.coordinates).toEqual({ lat: 37.123456, lon: -122.654321, accuracyMeters: 20 });
    });

    it('appends location updates; the latest is what safety features read', async () => {
      const s = await open();
      await s.recordAdmission(admission('s3'));
      await s.recordLocation({ sessionId: 's3', room: 'room-1', identity: 'id-s3', at: new Date(), location: { ...admission('x').location, description: 'Home, kitchen', source: 'device-geolocation' } });
      expect((await s.latestLocation('s3'))!.description).toBe('Home, kitchen');
      expect((await s.participants('room-1')).find((p) => p.sessionId === 's3')!.locations).toHaveLength(2);
      expect(await s.latestLocation('nobody')).toBeUndefined();
    });

    it('records withdrawals after the grant', async () => {
      const s = await open();
      await s.recordAdmission(admission('s4'));
      await s.recordWithdrawal({ sessionId: 's4', room: 'room-1', identity: 'id-s4', scopes: ['telehealth'], at: new Date() });
      const p = (await s.participants('room-1')).find((x) => x.sessionId === 's4')!;
      expect(p.consents.map((c) => c.kind)).toEqual(['grant', 'withdrawal']);
    });

    it('records a consent granted again like the admission\'s: a grant row (name sealed) and consent.granted', async () => {
      const s = await open();
      const first = admission('s4b');
      await s.recordAdmission(first);
      await s.recordWithdrawal({ sessionId: 's4b', room: 'room-1', identity: 'id-s4b', scopes: ['telehealth'], at: new Date() });
      const again = { ...first.consent, grantedBy: { relation: 'guardian' as const, name: 'Sam Second-Guardian' } };
      await s.recordConsent({ sessionId: 's4b', room: 'room-1', identity: 'id-s4b', role: 'student', consent: again, at: new Date() });
      const p = (await s.participants('room-1')).find((x) => x.sessionId === 's4b')!;
      expect(p.consents.map((c) => c.kind)).toEqual(['grant', 'withdrawal', 'grant']);
      expect(p.consents[2]).toMatchObject({ policyVersion: first.consent.policyVersion, grantedBy: { name: 'Sam Second-Guardian' } });
      const granted = (await s.auditTrail('room-1')).filter((e) => e.kind === 'consent.granted' && e.detail.includes('s4b'));
      expect(granted).toHaveLength(2);
      expect(JSON.parse(granted[1]!.detail)).toEqual(JSON.parse(granted[0]!.detail));
      expect(await harness().dump()).not.toContain('Sam Second-Guardian');
      expect((await s.verifyAudit()).ok).toBe(true);
    });

    it('survives a restart', async () => {
      const s = await open();
      await s.recordAdmission(admission('s5'));
      await s.close();
      const again = await open();
      expect((await again.participants('room-1')).map((p) => p.sessionId)).toContain('s5');
      expect((await again.verifyAudit()).ok).toBe(true);
    });

    it('hash-chains the audit trail and names the first broken entry', async () => {
      const s = await open();
      await s.recordAdmission(admission('s6'));
      await s.recordRefusal({ room: 'room-1', identity: 'id-x', role: 'student', code: 'CONSENT_REQUIRED', at: new Date() });
      await s.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: { identity: 'id-x' }, at: new Date() });
      const trail = await s.auditTrail('room-1');
      expect(trail.map((e) => e.kind)).toEqual(['consent.granted', 'location.recorded', 'admission.granted', 'admission.refused', 'participant.kicked']);
      expect(trail.every((e) => !e.detail.includes('Pat') && !e.detail.includes('Lincoln'))).toBe(true);
      expect(await s.verifyAudit()).toMatchObject({ ok: true, entries: 5 });
      await harness().exec(`UPDATE audit SET detail = '{"identity":"someone-else"}' WHERE seq = 4`);
      expect(await s.verifyAudit()).toMatchObject({ ok: false, brokenAt: 4 });
    });

    it('detects a deleted audit entry', async () => {
      const s = await open();
      await s.recordAdmission(admission('s7'));
      await harness().exec('DELETE FROM audit WHERE seq = 2');
      expect(await s.verifyAudit()).toMatchObject({ ok: false, brokenAt: 3, firstMissing: 2 });
    });

    describe('signed head checkpoint', () => {
      const six = async (s: Store) => {
        await s.recordAdmission(admission('t1'));
        await s.recordAdmission(admission('t2'));
        return s.auditTrail();
      };

      it('an intact chain reaches its checkpoint, and keeps verifying across restarts and appends', async () => {
        const s = await open();
        const trail = await six(s);
        const v = await s.verifyAudit();
        expect(v).toMatchObject({ ok: true, entries: 6, checkpoint: { seq: 6, hash: trail[5]!.hash, keyId: KEY_A.id } });
        expect(v.checkpoint!.mac).toMatch(/^[0-9a-f]{64}$/);
        expect(await s.auditHead()).toEqual({ ok: true, checkpoint: v.checkpoint });
        expect(s.auditHeadPosition()).toBe(6);
        await s.close();

        const again = await open();
        expect(await again.verifyAudit()).toMatchObject({ ok: true, entries: 6, checkpoint: { seq: 6, hash: trail[5]!.hash } });
        expect(again.auditHeadPosition()).toBe(6);
        await again.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: {}, at: new Date() });
        expect(await again.verifyAudit()).toMatchObject({ ok: true, entries: 7, checkpoint: { seq: 7 } });
        expect(again.auditHeadPosition()).toBe(7);
        await again.close();
        expect(await (await open()).verifyAudit()).toMatchObject({ ok: true, entries: 7 });
      });

      it('a new store has no checkpoint and verifies', async () => {
        const s = await open();
        expect(await s.verifyAudit()).toEqual({ ok: true, entries: 0, checkpoint: null });
        expect(await s.auditHead()).toEqual({ ok: true, checkpoint: null });
        expect(s.auditHeadPosition()).toBe(0);
      });

      it('reports the newest entry deleted, with the first missing position', async () => {
        const s = await open();
        await six(s);
        await harness().exec('DELETE FROM audit WHERE seq = 6');
        const v = await s.verifyAudit();
        expect(v).toMatchObject({ ok: false, entries: 5, brokenAt: 6, firstMissing: 6, checkpoint: { seq: 6 } });
        expect(v.ok === false && v.reason).toContain('entry 6 is missing');
        expect(await s.auditHead()).toMatchObject({ ok: false, brokenAt: 6, firstMissing: 6 });
      });

      it('reports the 3 newest entries deleted, across a restart and after later appends', async () => {
        const s = await open();
        await six(s);
        await harness().exec('DELETE FROM audit WHERE seq > 3');
        const v = await s.verifyAudit();
        expect(v).toMatchObject({ ok: false, entries: 3, brokenAt: 4, firstMissing: 4 });
        expect(v.ok === false && v.reason).toContain('entries 4 to 6 are missing');
        await s.close();

        const again = await open();
        expect(await again.verifyAudit()).toMatchObject({ ok: false, brokenAt: 4, firstMissing: 4 });
        // The next append keeps the evidence: it records the mismatch and continues after the checkpoint.
        await again.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: {}, at: new Date() });
        const trail = await again.auditTrail();
        expect(trail.map((e) => e.seq)).toEqual([1, 2, 3, 7, 8]);
        expect(trail[3]).toMatchObject({ kind: 'audit.checkpoint-mismatch', room: '*', actor: 'audit' });
        expect(JSON.parse(trail[3]!.detail)).toMatchObject({ problem: 'truncated', firstMissing: 4, newest: { seq: 3 }, checkpoint: { seq: 6 } });
        const after = await again.verifyAudit();
        expect(after).toMatchObject({ ok: false, entries: 5, brokenAt: 7, firstMissing: 4, checkpoint: { seq: 8 } });
        expect(after.ok === false && after.reason).toContain('entries 4 to 6 are missing');
      });

      it('reports every entry deleted', async () => {
        const s = await open();
        await six(s);
        await harness().exec('DELETE FROM audit');
        expect(await s.verifyAudit()).toMatchObject({ ok: false, entries: 0, brokenAt: 6, reason: expect.stringContaining('trail is empty') });
      });

      it('reports a checkpoint deleted together with the newest entries, and a forged one', async () => {
        const s = await open();
        const trail = await six(s);
        await harness().exec('DELETE FROM audit WHERE seq > 3');
        await harness().exec('DELETE FROM audit_head');
        expect(await s.verifyAudit()).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringContaining('checkpoint is missing') });
        // Without the key, a checkpoint naming the new end cannot be made.
        await harness().exec(`INSERT INTO audit_head (id, seq, hash, at, key_id, mac) VALUES (1, 3, '${trail[2]!.hash}', '${new Date().toISOString()}', '${KEY_A.id}', '${'ab'.repeat(32)}')`);
        expect(await s.verifyAudit()).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringContaining('valid signature') });
        // The next append records the forgery before it signs a new head.
        await s.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: {}, at: new Date() });
        expect(await s.verifyAudit()).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringContaining('valid signature') });
      });

      it('reports entries appended behind the service\'s back, even with correct hashes', async () => {
        const s = await open();
        const trail = await six(s);
        const e = { seq: 7, at: new Date().toISOString(), room: 'room-1', kind: 'forged', actor: 'x', detail: '{}', prevHash: trail[5]!.hash };
        await harness().exec(`INSERT INTO audit (seq, at, room, kind, actor, detail, prev_hash, hash)
          VALUES (7, '${e.at}', 'room-1', 'forged', 'x', '{}', '${e.prevHash}', '${entryHash(e)}')`);
        expect(await s.verifyAudit()).toMatchObject({ ok: false, entries: 7, brokenAt: 7, reason: expect.stringContaining('after the signed head checkpoint') });
      });

      it('a checkpoint signed with an older records key verifies after rotation; the next append signs with the new key', async () => {
        const s = await open([KEY_A]);
        await six(s);
        await s.close();
        const rotated = await open([KEY_B, KEY_A]);
        expect(await rotated.verifyAudit()).toMatchObject({ ok: true, checkpoint: { seq: 6, keyId: KEY_A.id } });
        await rotated.audit({ room: 'room-1', kind: 'participant.kicked', actor: 'admin', detail: {}, at: new Date() });
        expect(await rotated.verifyAudit()).toMatchObject({ ok: true, checkpoint: { seq: 7, keyId: KEY_B.id } });
        await rotated.close();
        // Another key altogether cannot check it.
        expect(await (await open([{ id: 'k3', key: randomBytes(32) }])).verifyAudit())
          .toMatchObject({ ok: false, brokenAt: 7, reason: expect.stringContaining('"k2", which is not configured') });
      });

      it('retention that removes every entry keeps positions and checkpoint continuous', async () => {
        const s = await open();
        await s.recordAdmission(admission('all-old', { at: new Date('2019-01-01T00:00:00Z') }));
        const cut = (await s.auditTrail()).at(-1)!;
        expect(await s.applyRetention(new Date('2020-06-01T00:00:00Z'), 'retention-job')).toEqual({ sessions: 1, auditEntries: 3 });
        const trail = await s.auditTrail();
        expect(trail).toEqual([expect.objectContaining({ seq: 4, kind: 'retention.applied', prevHash: cut.hash })]);
        expect(await s.verifyAudit()).toMatchObject({ ok: true, entries: 1, checkpoint: { seq: 4, hash: trail[0]!.hash } });
      });

      it('signs the newest entry of a trail written before checkpoints existed (upgrade)', async () => {
        const s = await open();
        const trail = await six(s);
        await s.close();
        await harness().exec('DROP TABLE audit_head');
        await harness().exec('DELETE FROM schema_migrations WHERE version = 3');
        const upgraded = await open();
        expect(await upgraded.verifyAudit()).toMatchObject({ ok: true, entries: 6, checkpoint: { seq: 6, hash: trail[5]!.hash } });
      });
    });

    it('applies retention, audits it, and the chain still verifies', async () => {
      const s = await open();
      await s.recordAdmission(admission('old', { at: new Date('2019-01-01T00:00:00Z') }));
      await s.recordAdmission(admission('new', { at: new Date() }));
      const res = await s.applyRetention(new Date('2020-06-01T00:00:00Z'), 'retention-job');
      expect(res).toEqual({ sessions: 1, auditEntries: 3 });
      expect((await s.participants('room-1')).map((p) => p.sessionId)).toEqual(['new']);
      const trail = await s.auditTrail();
      expect(trail.at(-1)!.kind).toBe('retention.applied');
      expect(await s.verifyAudit()).toMatchObject({ ok: true, entries: 4 });
    });

    it('retention keeps every audit entry appended after a recent one, even if dated before the cutoff', async () => {
      const s = await open();
      await s.recordAdmission(admission('recent', { at: new Date() }));
      await s.recordAdmission(admission('late-old', { at: new Date('2019-01-01T00:00:00Z') }));
      const res = await s.applyRetention(new Date('2020-06-01T00:00:00Z'), 'retention-job');
      expect(res.auditEntries).toBe(0);
      expect((await s.auditTrail()).filter((e) => e.kind !== 'retention.applied')).toHaveLength(6);
      expect((await s.verifyAudit()).ok).toBe(true);
    });

    it('persists revocations until they expire', async () => {
      const s = await open();
      const now = new Date();
      await s.recordRevocation({ room: 'room-1', identity: 'kid', until: new Date(now.getTime() + 60_000), reason: 'kicked', actor: 'admin', at: now });
      await s.recordRevocation({ room: 'room-1', tokenId: 'jti-1', until: new Date(now.getTime() - 1), reason: 'old', actor: 'admin', at: now });
      const active = await s.activeRevocations(now);
      expect(active).toEqual([expect.objectContaining({ room: 'room-1', identity: 'kid', tokenId: undefined })]);
    });

    it('rotates record keys: a new key seals, the old one still opens', async () => {
      const s = await open([KEY_A]);
      await s.recordAdmission(admission('k-old'));
      await s.close();
      const rotated = await open([KEY_B, KEY_A]);
      await rotated.recordAdmission(admission('k-new'));
      const names = (await rotated.participants('room-1')).map((p) => p.consents[0]!.grantedBy.name);
      expect(names).toEqual(['Pat Guardian-Name', 'Pat Guardian-Name']);
      await rotated.close();
      const withoutOld = await open([KEY_B]);
      await expect(withoutOld.participants('room-1')).rejects.toThrow(/k1 is not configured/);
    });

    it('stores panic incidents append-only, idempotently, with sealed notes', async () => {
      const s = await open();
      const raise = {
        id: 'inc-1', room: 'room-1', participantId: 'p1', identity: 'kid', role: 'student' as const, kind: 'safety' as const, silent: true,
        note: 'Secret note text', coordinates: { lat: 1.5, lon: 2.5 }, clientIncidentId: 'client-key-1', raisedAt: new Date().toISOString(),
      };
      expect((await s.incidents.raise(raise)).created).toBe(true);
      const again = await s.incidents.raise({ ...raise, id: 'inc-2' });
      expect(again).toMatchObject({ created: false, incident: { id: 'inc-1' } });
      await s.incidents.append({ incidentId: 'inc-1', type: 'escalated', actor: 'system', at: new Date().toISOString(), data: { tier: 1 } });
      const acked = await s.incidents.append({ incidentId: 'inc-1', type: 'acknowledged', actor: 'doc', at: new Date().toISOString(), data: {} });
      expect(acked).toMatchObject({ tier: 1, acknowledgedBy: 'doc', state: 'open', note: 'Secret note text', coordinates: { lat: 1.5, lon: 2.5 } });
      expect((await s.incidents.open()).map((i) => i.id)).toEqual(['inc-1']);
      await s.incidents.recordWebhookAttempt({ incidentId: 'inc-1', webhook: 'primary', tier: 1, attempt: 1, at: new Date().toISOString(), status: 500 });
      expect(await s.incidents.webhookAttempts('inc-1')).toEqual([expect.objectContaining({ webhook: 'primary', status: 500, attempt: 1 })]);
      await s.incidents.append({ incidentId: 'inc-1', type: 'resolved', actor: 'doc', at: new Date().toISOString(), data: { outcome: 'continued' } });
      expect(await s.incidents.open()).toEqual([]);
      expect((await s.incidents.get('inc-1'))!.outcome).toBe('continued');
      expect((await s.incidents.events('inc-1')).map((e) => e.type)).toEqual(['escalated', 'acknowledged', 'resolved']);
      expect(await s.incidents.events('no-such-incident')).toEqual([]);
      expect((await s.auditTrail('room-1')).map((e) => e.kind)).toEqual(['panic.raised', 'panic.escalated', 'panic.acknowledged', 'panic.resolved']);
      expect(await harness().dump()).not.toContain('Secret note');
      expect((await s.verifyAudit()).ok).toBe(true);
    });

    it('answers ping', async () => {
      expect(await (await open()).ping()).toBe(true);
    });
  });
}

export { FieldCipher };
