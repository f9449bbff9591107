/**
 * Pure alarm logic of the pages (issue #15): the sound's state, what a notification says, which
 * alarm comes first, how long it has waited, what the next escalation tier will do and when, and
 * what the raiser is told. No DOM:
 * unit-tested with fake timers in test/unit/client-alarms.test.ts.
 */
import type { Actor, IncidentKind, Outcome } from './panic-protocol.ts';
import { t, tDynamic } from './i18n/language.ts';
import { roleLabel } from './messages.ts';

// ---- the sound (alarm-sound.ts plays it) --------------------------------------------------------

/** What the sound is doing, for the page's `data-alarm-sound` and its controls. */
export type AlarmSoundState = 'off' | 'playing' | 'muted' | 'blocked';

/** The state for: an alarm waiting for acknowledgement, the mute control, the audio context running. */
export function alarmSoundState(ringing: boolean, muted: boolean, contextRunning: boolean): AlarmSoundState {
  if (!ringing) return 'off';
  if (muted) return 'muted';
  return contextRunning ? 'playing' : 'blocked';
}

// ---- the system notification (alarm-notify.ts shows it) ----------------------------------------

/** What a notification may say about an alarm: nothing more is passed in, so nothing more can leak. */
export interface NotifiedAlarm {
  readonly id: string;
  readonly kind: IncidentKind;
  /** Role words of the raiser ("Student"), never an identity or a name. */
  readonly raiserRole: string;
  readonly room: string;
}

/** Kind, role and room only: a notification can show on a lock screen others see (docs/safety.md). */
export function notificationContent(a: NotifiedAlarm): { title: string; body: string; tag: string } {
  return {
    title: t('notify.title', { kind: tDynamic(`kind.${a.kind}`, {}, a.kind) }),
    body: t('notify.body', { role: a.raiserRole, room: a.room }),
    tag: `sfu-alarm-${a.id}`,
  };
}

// ---- the desk ------------------------------------------------------------------------------------

/** The server's escalation plan (`panic:escalation-plan`): config `safety.tiers`, numbered. */
export interface PlannedTier {
  tier: number;
  afterSeconds: number;
  notify: string[];
  /** Targets of `notify` that name no configured webhook: escalating to them reaches nobody. */
  unconfigured?: string[];
}

/** Kinds by how fast a person must act: a risk to life first (docs/safety.md, "The desk page"). */
export const KIND_SEVERITY: Record<IncidentKind, number> = { 'self-harm': 0, medical: 1, safety: 2, other: 3, technical: 4 };

/** What the ordering needs of an incident. */
export interface Urgent {
  readonly kind: IncidentKind;
  readonly raisedAt: string;
  readonly acknowledged: unknown;
  /** Resolved, or closed elsewhere. */
  readonly closed: boolean;
}

/** Sort comparator: open before closed; unacknowledged first; then by kind severity; then the oldest first. */
export function byUrgency(a: Urgent, b: Urgent): number {
  return Number(a.closed) - Number(b.closed)
    || Number(!!a.acknowledged) - Number(!!b.acknowledged)
    || (KIND_SEVERITY[a.kind] ?? 9) - (KIND_SEVERITY[b.kind] ?? 9)
    || Date.parse(a.raisedAt) - Date.parse(b.raisedAt);
}

/** "45 s", "3 min 05 s", "1 h 02 min": how long an alarm has been open. */
export function elapsedText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('elapsed.s', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('elapsed.min', { m, s: String(s % 60).padStart(2, '0') });
  return t('elapsed.h', { h: Math.floor(m / 60), m: String(m % 60).padStart(2, '0') });
}

/** Plain words for a tier's targets (`room-clinicians`, `desk`, `webhook:<name>`). */
export function targetsText(notify: readonly string[]): string {
  const words = notify.map((target) => target.startsWith('webhook:') ? t('target.webhook', { name: target.slice('webhook:'.length) })
    : tDynamic(`target.${target}`, {}, target));
  if (words.length === 0) return t('target.nobody');
  return words.reduceRight((rest, first) => t('target.list', { first, rest }));
}

/** The next escalation of an open incident: which tier, when (ms epoch), whom it alerts; undefined when none will come. */
export function nextTier(e: { raisedAt: string; tier: number; acknowledged: unknown; closed: boolean }, plan: readonly PlannedTier[]): { tier: number; dueAt: number; notify: string[]; unconfigured: string[] } | undefined {
  if (e.closed || e.acknowledged) return undefined;
  const next = plan.find((t) => t.tier > e.tier);
  if (!next) return undefined;
  return { tier: next.tier, dueAt: Date.parse(e.raisedAt) + next.afterSeconds * 1000, notify: next.notify, unconfigured: next.unconfigured ?? [] };
}

/** The desk's "Next escalation" cell. `plan` undefined: the server has not sent it (yet). */
export function nextTierText(e: { raisedAt: string; tier: number; acknowledged: unknown; closed: boolean }, plan: readonly PlannedTier[] | undefined, now: number, clock: (ms: number) => string): string {
  if (e.closed) return '';
  if (e.acknowledged) return t('next.acknowledged');
  if (!plan) return t('next.noPlan');
  const next = nextTier(e, plan);
  if (!next) return t('next.last');
  const left = next.dueAt - now;
  const when = left > 0 ? t('next.at', { time: clock(next.dueAt), left: elapsedText(left + 999) }) : t('next.dueNow');
  // Never promise a target that is not configured (docs/safety.md, "Tiers and escalation").
  const live = next.notify.filter((target) => !next.unconfigured.includes(target));
  const dead = next.unconfigured.length ? t(live.length ? 'next.deadAfter' : 'next.dead', { targets: targetsText(next.unconfigured) }) : '';
  return t('next.tier', { tier: next.tier, when, what: `${live.length ? t('next.alerts', { targets: targetsText(live) }) : ''}${dead}` });
}

// ---- what the person who raised the alarm is told ----------------------------------------------

/** Who responded, at the start of a sentence or inside one. */
function responderText(by: Actor, inSentence: boolean): string {
  const identity = by.identity;
  if (by.role === 'desk') return t(inSentence ? 'responder.deskInSentence' : 'responder.desk', { identity });
  if (by.role === 'clinician') return t(inSentence ? 'responder.clinicianInSentence' : 'responder.clinician', { identity });
  return t(inSentence ? 'responder.otherInSentence' : 'responder.other', { role: roleLabel(by.role).toLowerCase(), identity });
}

/** After an acknowledgement: a person has the alarm. A silent alarm gets a discreet word only. */
export function raiserAcknowledgedText(by: Actor, atText: string, silent: boolean): string {
  if (silent) return atText ? t('raiser.seenAt', { time: atText }) : t('raiser.seen');
  const responder = responderText(by, false);
  return atText ? t('raiser.hasSince', { responder, time: atText }) : t('raiser.has', { responder });
}

/** After a resolution: how it ended. */
export function raiserResolvedText(by: Actor, outcome: Outcome, atText: string, silent: boolean): string {
  if (silent) return atText ? t('raiser.closedAt', { time: atText }) : t('raiser.closed');
  const responder = responderText(by, true);
  const how = tDynamic(`raiserOutcome.${outcome}`, {}, outcome);
  return atText ? t('raiser.closedByAt', { responder, time: atText, outcome: how }) : t('raiser.closedBy', { responder, outcome: how });
}
