/**
 * `incident-report <room>`: what a review of a room's panic incidents needs, from the admin API in
 * one document: each incident's timeline (raised, re-raised, acknowledged, escalated, cancelled,
 * resolved: who by identity and role, when, the outcome), the room's audit entries with their hashes
 * (or only the incident's, with --incident), whether the whole chain verifies against its signed head
 * checkpoint, and the room's revocations. No names, places or phone numbers unless --with-records,
 * which adds the decrypted consent and location records and is written only to a file (--out, mode
 * 0600, never overwritten).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AuditEntry, AuditVerification, ParticipantRecords } from '../../src/store/types.ts';
import { AdminError } from './api.ts';
import type { Command } from './commands.ts';
import { count } from './format.ts';

interface Timeline {
  incidentId: string;
  kind?: string;
  silent?: boolean;
  raisedAt?: string;
  raisedBy?: { identity: string; role?: string };
  reRaises: number;
  acknowledged?: { at: string; by: string; role?: string; afterSeconds?: number };
  escalations: { tier: number; at: string; notify?: unknown }[];
  cancelled?: { at: string; by: string };
  resolved?: { at: string; by: string; role?: string; outcome?: string; hasNote?: boolean };
}

type Detail = Record<string, unknown> & { incidentId?: string };
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const seconds = (from: string | undefined, to: string) => (from ? Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10 : undefined);

/** What each panic.* audit entry adds to its incident's timeline (a table, not a switch). */
const STEPS: Record<string, (t: Timeline, e: AuditEntry, d: Detail) => void> = {
  'panic.raised': (t, e, d) => Object.assign(t, { kind: str(d.kind), silent: d.silent === true, raisedAt: e.at, raisedBy: { identity: e.actor, role: str(d.role) } }),
  'panic.re-raised': (t) => { t.reRaises += 1; },
  'panic.acknowledged': (t, e, d) => { t.acknowledged ??= { at: e.at, by: e.actor, role: str(d.role), afterSeconds: seconds(t.raisedAt, e.at) }; },
  'panic.escalated': (t, e, d) => { t.escalations.push({ tier: Number(d.tier ?? 0), at: e.at, notify: d.notify }); },
  'panic.cancelled': (t, e) => { t.cancelled = { at: e.at, by: e.actor }; },
  'panic.resolved': (t, e, d) => { t.resolved = { at: e.at, by: e.actor, role: str(d.role), outcome: str(d.outcome), hasNote: d.hasNote === true }; },
};

/** The incidents of these audit entries, in the order they were raised. */
export function timelines(entries: readonly AuditEntry[]): Timeline[] {
  const byId = new Map<string, Timeline>();
  for (const e of entries) {
    const step = STEPS[e.kind];
    if (!step) continue;
    const d = JSON.parse(e.detail) as Detail;
    if (!d.incidentId) continue;
    let t = byId.get(d.incidentId);
    if (!t) byId.set(d.incidentId, t = { incidentId: d.incidentId, reRaises: 0, escalations: [] });
    step(t, e, d);
  }
  return [...byId.values()];
}

function describe(t: Timeline): string {
  const lines = [`incident ${t.incidentId}: ${t.kind ?? 'kind unknown'}${t.silent ? ' (silent)' : ''}, raised ${t.raisedAt ?? '(raise not in this trail)'}${t.raisedBy ? ` by ${t.raisedBy.identity} (${t.raisedBy.role ?? '?'})` : ''}`];
  if (t.reRaises) lines.push(`  raised again ${count(t.reRaises, 'time', 'times')}`);
  if (t.acknowledged) lines.push(`  acknowledged ${t.acknowledged.at} by ${t.acknowledged.by} (${t.acknowledged.role ?? '?'})${t.acknowledged.afterSeconds !== undefined ? `, ${t.acknowledged.afterSeconds} s after the raise` : ''}`);
  else lines.push('  NOT acknowledged');
  for (const x of t.escalations) lines.push(`  escalated to tier ${x.tier} ${x.at}`);
  if (t.cancelled) lines.push(`  cancelled by the raiser ${t.cancelled.at}`);
  lines.push(t.resolved ? `  resolved ${t.resolved.at} by ${t.resolved.by} (${t.resolved.role ?? '?'}): ${t.resolved.outcome ?? '?'}${t.resolved.hasNote ? ' (with a note, kept with the incident)' : ''}` : '  still OPEN');
  return lines.join('\n');
}

export const incidentReport: Command = {
  positionals: ['room'],
  usage: '[--incident ID] [--out FILE [--with-records]]',
  summary: "a room's panic incidents with their timelines, audit entries (hashes) and the chain's verification; --out writes the whole report",
  options: { incident: { type: 'string' }, out: { type: 'string' }, 'with-records': { type: 'boolean' } },
  async run(api, { room }, v) {
    const out = typeof v.out === 'string' ? v.out : undefined;
    if (v['with-records'] && !out) throw new AdminError('USAGE', '--with-records adds personal data (names, places, emergency contacts): it is written only to a file, give --out FILE');
    const path = `/rooms/${encodeURIComponent(room!)}`;
    const [{ entries }, chain, { revocations }] = await Promise.all([
      api.request<{ entries: AuditEntry[] }>('GET', `${path}/audit`),
      api.request<AuditVerification>('GET', '/audit/verify'),
      api.request<{ revocations: unknown[] }>('GET', `${path}/revocations`),
    ]);
    const incidentId = typeof v.incident === 'string' ? v.incident : undefined;
    const audit = incidentId ? entries.filter((e) => (JSON.parse(e.detail) as Detail).incidentId === incidentId) : entries;
    if (incidentId && audit.length === 0) throw new AdminError('NOT_FOUND', `no audit entry of incident ${incidentId} in room ${room}`);
    const records = v['with-records'] ? (await api.request<{ participants: ParticipantRecords[] }>('GET', `${path}/records`)).participants : undefined;
    const incidents = timelines(audit);
    const report = {
      report: 'telepractice-sfu incident report', version: 1, generatedAt: new Date().toISOString(), node: api.url, room,
      ...(incidentId ? { incidentId } : {}), chain, incidents, audit, revocations, ...(records ? { records } : {}),
    };
    const lines = [
      `room ${room}${incidentId ? `, incident ${incidentId}` : ''}: ${count(incidents.length, 'incident', 'incidents')}, ${count(audit.length, 'audit entry', 'audit entries')}`,
      chain.ok ? `audit chain intact (${count(chain.entries, 'entry', 'entries')}, head ${chain.checkpoint ? `${chain.checkpoint.seq}:${chain.checkpoint.hash}` : 'none'})` : `audit chain BROKEN at entry ${chain.brokenAt}: ${chain.reason}`,
      ...incidents.map(describe),
    ];
    let data: unknown = report;
    if (out) {
      const json = `${JSON.stringify(report, null, 2)}\n`;
      try {
        writeFileSync(out, json, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        throw new AdminError('OUTPUT_NOT_WRITTEN', `cannot write ${out}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists (never overwritten)' : (err as Error).message}`);
      }
      const sha256 = createHash('sha256').update(json).digest('hex');
      lines.push(`written to ${out} (${json.length} bytes, sha256 ${sha256}, mode 0600${records ? ', with personal data: consent and location records' : ''})`);
      data = { out, bytes: json.length, sha256, incidents: incidents.length, auditEntries: audit.length, chainOk: chain.ok, withRecords: records !== undefined };
    }
    const failure = chain.ok ? undefined : new AdminError('AUDIT_CHAIN_BROKEN', `audit chain BROKEN at entry ${chain.brokenAt}: ${chain.reason}`);
    return { data, text: lines.join('\n'), ...(failure ? { failure } : {}) };
  },
};
