import { Emitter } from './emitter.ts';
import { roleLabel } from './messages.ts';
import { escalationText } from './escalation-text.ts';
import type { TargetReach } from '../domain/escalation-reach.ts';
import { dateFormat, t, tDynamic } from './i18n/language.ts';
import {
  type Actor,
  type Alert,
  type IncidentKind,
  type Outcome,
  type PanicServerEvents,
} from './panic-protocol.ts';

/** What a responder knows of one incident, merged from its alert(s) and the updates since. */
export interface IncidentEntry {
  readonly id: string;
  readonly room: string;
  readonly kind: IncidentKind;
  readonly silent: boolean;
  readonly raisedAt: string;
  readonly raiser: { role: string; identity: string };
  readonly location: Alert['location'];
  readonly emergencyContact: Alert['emergencyContact'];
  readonly note: string | undefined;
  tier: number;
  /** What became of the targets of an escalation tier (`panic:escalated`, or a replay), when told. */
  escalation?: { tier: number; targets: TargetReach[] } | undefined;
  acknowledged: { by: { identity: string; role?: Actor['role'] }; at: string | undefined } | undefined;
  cancelledAt: string | undefined;
  resolved: { by: Actor; outcome: Outcome; at: string } | undefined;
  /** The server no longer has it open, and we never heard how it ended (resolved while we were offline). */
  closedElsewhere: boolean;
  /** Open when we lost the connection, and not replayed since we got it back: probably closed meanwhile. */
  unconfirmed: boolean;
  /** performance.now()-independent wall clock (ms) when this page first learned of it. */
  readonly firstSeenAt: number;
}

export type IncidentBookEvents = {
  /** A new incident (first alert or replay). */
  added: [IncidentEntry];
  /** An incident changed (acknowledged, escalated, cancelled, resolved, or a fresher alert). */
  changed: [IncidentEntry];
  /** Ended incidents were dropped (forgetEnded): their location and contact are no longer held. */
  forgotten: [string[]];
};

/** One line of the event log tests (and operators, from the console) can read. */
export interface LoggedEvent { event: string; incidentId: string; at: number; tier?: number; replay?: true }

/**
 * Keeps responders' incidents: alerts arrive on the /safety socket and (for clinicians) on the
 * signalling socket too, and again as replays after a reconnection; all are merged by incident id.
 */
export class IncidentBook {
  readonly events = new Emitter<IncidentBookEvents>();
  readonly #entries = new Map<string, IncidentEntry>();
  readonly log: LoggedEvent[] = [];
  /** performance.now() of each incident's latest alert. */
  readonly #lastAlert = new Map<string, number>();

  get(id: string): IncidentEntry | undefined {
    return this.#entries.get(id);
  }

  all(): IncidentEntry[] {
    return [...this.#entries.values()];
  }

  open(): IncidentEntry[] {
    return this.all().filter((e) => !e.resolved && !e.closedElsewhere);
  }

  alert(a: Alert, via = 'panic:alert'): void {
    this.#log(via, a.incident.id, { tier: a.tier, ...(a.replay ? { replay: true as const } : {}) });
    this.#lastAlert.set(a.incident.id, performance.now());
    const inc = a.incident;
    const known = this.#entries.get(inc.id);
    if (!known) {
      const entry: IncidentEntry = {
        id: inc.id,
        room: inc.room,
        kind: inc.kind,
        silent: inc.silent,
        raisedAt: inc.raisedAt,
        raiser: { role: a.participant.role, identity: a.participant.identity },
        location: a.location,
        emergencyContact: a.emergencyContact,
        note: inc.note,
        tier: Math.max(a.tier, inc.tier),
        escalation: a.escalation ? { tier: a.tier, targets: a.escalation } : undefined,
        acknowledged: inc.acknowledgedBy ? { by: { identity: inc.acknowledgedBy }, at: inc.acknowledgedAt } : undefined,
        cancelledAt: inc.cancelledAt,
        resolved: undefined,
        closedElsewhere: false,
        unconfirmed: false,
        firstSeenAt: Date.now(),
      };
      // A replay of an incident resolved meanwhile cannot happen (only open ones are replayed).
      this.#entries.set(inc.id, entry);
      this.events.emit('added', entry);
      return;
    }
    const tier = Math.max(known.tier, a.tier, inc.tier);
    let changed = tier !== known.tier || known.unconfirmed;
    known.unconfirmed = false;
    known.tier = tier;
    if (a.escalation && a.tier === tier && known.escalation?.tier !== tier) {
      known.escalation = { tier, targets: a.escalation };
      changed = true;
    }
    if (!known.acknowledged && inc.acknowledgedBy) {
      known.acknowledged = { by: { identity: inc.acknowledgedBy }, at: inc.acknowledgedAt };
      changed = true;
    }
    if (!known.cancelledAt && inc.cancelledAt) {
      known.cancelledAt = inc.cancelledAt;
      changed = true;
    }
    // An alert for an incident we saw resolved is a replay from a server that missed it: reopen.
    if ((known.resolved || known.closedElsewhere) && a.replay) {
      known.resolved = undefined;
      known.closedElsewhere = false;
      changed = true;
    }
    if (changed) this.events.emit('changed', known);
  }

  acknowledged(d: PanicServerEvents['panic:acknowledged']): void {
    this.#log('panic:acknowledged', d.incidentId);
    this.#update(d.incidentId, (e) => {
      if (e.acknowledged?.by.role) return false;
      e.acknowledged = { by: d.by, at: d.at };
      return true;
    });
  }

  escalated(d: PanicServerEvents['panic:escalated']): void {
    this.#log('panic:escalated', d.incidentId, { tier: d.tier });
    this.#update(d.incidentId, (e) => {
      if (d.tier < e.tier || e.escalation?.tier === d.tier) return false;
      e.tier = d.tier;
      e.escalation = d.targets ? { tier: d.tier, targets: d.targets } : undefined;
      return true;
    });
  }

  cancelled(d: PanicServerEvents['panic:cancelled']): void {
    this.#log('panic:cancelled', d.incidentId);
    this.#update(d.incidentId, (e) => {
      if (e.cancelledAt) return false;
      e.cancelledAt = d.at;
      return true;
    });
  }

  resolved(d: PanicServerEvents['panic:resolved']): void {
    this.#log('panic:resolved', d.incidentId);
    this.#update(d.incidentId, (e) => {
      if (e.resolved) return false;
      e.resolved = { by: d.by, outcome: d.outcome, at: d.at };
      return true;
    });
  }

  /** The server says there is no such open incident (INCIDENT_NOT_FOUND): it ended without us hearing. */
  gone(id: string): void {
    this.#log('gone', id);
    this.#update(id, (e) => {
      if (e.resolved || e.closedElsewhere) return false;
      e.closedElsewhere = true;
      return true;
    });
  }

  /**
   * The call ended for this page: incidents that ended (resolved, or gone from the server) are
   * dropped with their location and emergency contact. Open ones stay: help may be on its way.
   */
  forgetEnded(): void {
    const ended = this.all().filter((e) => e.resolved || e.closedElsewhere).map((e) => e.id);
    for (const id of ended) {
      this.#entries.delete(id);
      this.#lastAlert.delete(id);
    }
    if (ended.length > 0) this.events.emit('forgotten', ended);
  }

  /**
   * The connection is back: open incidents are replayed by the server at once. Those not replayed
   * within `graceMs` are flagged unconfirmed (shown as such, never dropped: a false "closed" is
   * worse than a stale "open").
   */
  reconnected(graceMs = 3000): void {
    const since = performance.now();
    const before = this.open().map((e) => e.id);
    setTimeout(() => {
      for (const id of before) {
        this.#update(id, (e) => {
          if (e.resolved || e.closedElsewhere || e.unconfirmed || (this.#lastAlert.get(id) ?? -1) >= since) return false;
          e.unconfirmed = true;
          return true;
        });
      }
    }, graceMs);
  }

  #update(id: string, apply: (e: IncidentEntry) => boolean): void {
    const e = this.#entries.get(id);
    if (e && apply(e)) this.events.emit('changed', e);
  }

  #log(event: string, incidentId: string, extra: { tier?: number; replay?: true } = {}): void {
    this.log.push({ event, incidentId, at: Date.now(), ...extra });
    if (this.log.length > 500) this.log.shift();
  }
}

// ---- words -------------------------------------------------------------------------------------

export function kindText(kind: IncidentKind): string {
  return tDynamic(`kind.${kind}`, {}, kind);
}

export function outcomeText(outcome: Outcome): string {
  return tDynamic(`outcome.${outcome}`, {}, outcome);
}

export function actorText(by: { identity: string; role?: Actor['role'] }): string {
  if (!by.role) return by.identity;
  return by.role === 'desk' ? t('actor.desk', { identity: by.identity }) : t('actor.role', { role: roleLabel(by.role).toLowerCase(), identity: by.identity });
}

export function locationText(e: IncidentEntry): string {
  const loc = e.location;
  if (!loc) return t('alarm.noLocation');
  const coords = loc.coordinates ? ` · ${loc.coordinates.lat.toFixed(5)}, ${loc.coordinates.lon.toFixed(5)}` : '';
  return `${loc.description} (${loc.region})${coords}`;
}

const TIME = { hour: '2-digit', minute: '2-digit', second: '2-digit' } as const;
// Made at page load (and once per language, by dateFormat): the first use of a locale's formatter is slow (tens of ms when busy).
dateFormat(TIME).format(0);

export function timeText(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : dateFormat(TIME).format(d);
}

/** One word for the state, for data attributes and tests: open, acknowledged, resolved. */
export function stateOf(e: IncidentEntry): 'open' | 'acknowledged' | 'resolved' {
  return e.resolved || e.closedElsewhere ? 'resolved' : e.acknowledged ? 'acknowledged' : 'open';
}

export function stateText(e: IncidentEntry): string {
  const parts: string[] = [];
  if (e.resolved) {
    parts.push(t('state.resolved', { outcome: outcomeText(e.resolved.outcome), actor: actorText(e.resolved.by), time: timeText(e.resolved.at) }));
  } else if (e.closedElsewhere) {
    parts.push(t('state.closedElsewhere'));
  } else if (e.acknowledged) {
    const actor = actorText(e.acknowledged.by);
    parts.push(e.acknowledged.at ? t('state.acknowledgedAt', { actor, time: timeText(e.acknowledged.at) }) : t('state.acknowledged', { actor }));
  } else {
    parts.push(t('state.open'));
  }
  if (e.tier > 0 && stateOf(e) !== 'resolved') parts.push(escalationText(e.tier, e.escalation?.tier === e.tier ? e.escalation.targets : undefined));
  if (e.unconfirmed && stateOf(e) !== 'resolved') parts.push(t('state.unconfirmed'));
  if (e.cancelledAt) parts.push(t('state.mistake', { time: timeText(e.cancelledAt) }));
  return parts.join(' · ');
}
