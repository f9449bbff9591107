import type { Role } from './roles.ts';

export const INCIDENT_KINDS = ['medical', 'safety', 'self-harm', 'technical', 'other'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];
export const OUTCOMES = ['continued', 'ended', 'false-alarm', 'emergency-services-contacted'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** An alarm as raised: never changed afterwards (what happens next is appended as events). */
export interface IncidentRaise {
  readonly id: string;
  readonly room: string;
  readonly participantId: string;
  readonly identity: string;
  readonly role: Role;
  readonly kind: IncidentKind;
  readonly silent: boolean;
  readonly note?: string | undefined;
  readonly coordinates?: { lat: number; lon: number; accuracyMeters?: number | undefined } | undefined;
  readonly clientIncidentId: string;
  readonly raisedAt: string;
}

/**
 * `re-raised`: the raiser raised again while at the cap of open incidents per participant; the
 * raise was recorded on this incident (data: clientIncidentId, kind, silent, hasNote?, hasCoordinates?);
 * or several such raises, counted and written together (data: count, first, last, kind and silent
 * of the last, hasNote?, hasCoordinates?; `at` is `last`).
 * `escalation-taken-over`: another node took the incident's escalation over after its owner's lease
 * ran out (data: node); it changes nothing of the incident's state.
 */
export type IncidentEventType = 'acknowledged' | 'escalated' | 'cancelled' | 'resolved' | 're-raised' | 'escalation-taken-over';

export interface IncidentEvent {
  readonly incidentId: string;
  readonly type: IncidentEventType;
  /** Identity of the responder, the raiser, or `system` for escalations. */
  readonly actor: string;
  readonly at: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** An incident's current state, derived from its raise and its events. */
export interface Incident extends IncidentRaise {
  readonly state: 'open' | 'resolved';
  readonly acknowledgedBy?: string | undefined;
  readonly acknowledgedAt?: string | undefined;
  /** Highest escalation tier reached (0 = the initial fan-out). */
  readonly tier: number;
  readonly cancelledAt?: string | undefined;
  readonly resolvedAt?: string | undefined;
  readonly outcome?: Outcome | undefined;
  /** Further raises recorded on this incident (absent when none). */
  readonly reRaises?: number | undefined;
  /** The latest of them. */
  readonly lastReRaise?: { readonly kind: IncidentKind; readonly silent: boolean; readonly at: string } | undefined;
}

export interface WebhookAttempt {
  readonly incidentId: string;
  readonly webhook: string;
  readonly tier: number;
  readonly attempt: number;
  readonly at: string;
  readonly status: number | null;
  readonly error?: string | undefined;
}

/** Durable incidents: append-only (a raise, then events); idempotent on (room, identity, clientIncidentId). */
export interface IncidentStore {
  /** Stores a raise; when the same key was raised before, returns that incident instead. */
  raise(r: IncidentRaise): Promise<{ incident: Incident; created: boolean }>;
  append(e: IncidentEvent): Promise<Incident>;
  get(id: string): Promise<Incident | undefined>;
  /** An incident's events in append order (none for an unknown id). */
  events(incidentId: string): Promise<IncidentEvent[]>;
  open(): Promise<Incident[]>;
  recordWebhookAttempt(a: WebhookAttempt): Promise<void>;
  webhookAttempts(incidentId: string): Promise<WebhookAttempt[]>;
}

/** The raise an incident was derived from (its derived fields taken off). */
export function raiseOf(i: Incident): IncidentRaise {
  const { state: _s, acknowledgedBy: _a, acknowledgedAt: _aa, tier: _t, cancelledAt: _c, resolvedAt: _r, outcome: _o, reRaises: _n, lastReRaise: _l, ...raise } = i;
  return raise;
}

/** How many raises a `re-raised` event records: its `count` (a positive integer) when written for several, else 1. */
export function reRaiseCount(e: IncidentEvent): number {
  const n = e.data.count;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 1;
}

/** Folds events over a raise (events in append order). */
export function deriveIncident(raise: IncidentRaise, events: readonly IncidentEvent[]): Incident {
  let inc: Incident = { ...raise, state: 'open', tier: 0 };
  for (const e of events) {
    switch (e.type) {
      case 'acknowledged':
        if (!inc.acknowledgedBy) inc = { ...inc, acknowledgedBy: e.actor, acknowledgedAt: e.at };
        break;
      case 'escalated':
        inc = { ...inc, tier: Math.max(inc.tier, Number(e.data.tier ?? 0)) };
        break;
      case 'cancelled':
        inc = { ...inc, cancelledAt: inc.cancelledAt ?? e.at };
        break;
      case 'resolved':
        inc = { ...inc, state: 'resolved', resolvedAt: e.at, outcome: e.data.outcome as Outcome };
        break;
      case 're-raised':
        // Raising again after cancelling asks for help again: the cancellation no longer stands.
        // A `count` (re-raises written together, docs/safety.md) counts that many.
        inc = {
          ...inc, cancelledAt: undefined, reRaises: (inc.reRaises ?? 0) + reRaiseCount(e),
          lastReRaise: { kind: e.data.kind as IncidentKind, silent: e.data.silent === true, at: e.at },
        };
        break;
    }
  }
  return inc;
}
