/**
 * The panic channel as the browser sees it: socket.io namespace `/safety` (server:
 * src/safety/panic/socket.ts; schemas in events.ts). Incident shapes come from the server's own
 * definitions (type-only imports, erased by the bundler); the payloads of the events are spelled
 * out here because the server builds them inline.
 */
import type { Incident, IncidentKind, Outcome } from '../domain/incident.ts';
import type { Role } from '../domain/roles.ts';
import type { TargetReach } from '../domain/escalation-reach.ts';

export type { Incident, IncidentKind, Outcome };

export const INCIDENT_KINDS: readonly IncidentKind[] = ['medical', 'safety', 'self-harm', 'technical', 'other'];
export const OUTCOMES: readonly Outcome[] = ['continued', 'ended', 'false-alarm', 'emergency-services-contacted'];

/** Who acted on an incident: a participant (by role) or a safety desk. */
export interface Actor { identity: string; role: Role | 'desk' }

/** `panic:alert` (and the `panicAlert` signalling notification): what responders receive. */
export interface Alert {
  incident: Incident;
  participant: { participantId: string; identity: string; role: Role };
  location: { description: string; region: string; source: string; coordinates?: { lat: number; lon: number }; capturedAt: string } | null;
  emergencyContact: { name: string; phone: string } | null;
  tier: number;
  replay?: boolean;
  /** Replays: what became of the targets of the tier the incident is at, when the server knows. */
  escalation?: TargetReach[];
}

/** Server -> client events on /safety. */
export interface PanicServerEvents {
  'panic:alert': Alert;
  'panic:acknowledged': { incidentId: string; by: Actor; at: string };
  'panic:escalated': { incidentId: string; tier: number; notified: string[]; targets?: TargetReach[] };
  'panic:cancelled': { incidentId: string; by: Actor; at: string };
  'panic:resolved': { incidentId: string; by: Actor; outcome: Outcome; at: string };
  'panic:announce': { incidentId: string; kind: IncidentKind; raisedAt: string };
  /** To responders on connect: the escalation tiers (config `safety.tiers`). */
  'panic:escalation-plan': { tiers: { tier: number; afterSeconds: number; notify: string[]; unconfigured?: string[] }[] };
}
export type PanicServerEvent = keyof PanicServerEvents;
export const PANIC_SERVER_EVENTS: readonly PanicServerEvent[] = [
  'panic:alert', 'panic:acknowledged', 'panic:escalated', 'panic:cancelled', 'panic:resolved', 'panic:announce', 'panic:escalation-plan',
];

/** Client -> server events on /safety: [data, reply data]. */
export interface PanicRequests {
  'panic:raise': [
    { kind: IncidentKind; silent: boolean; note?: string; coordinates?: { lat: number; lon: number; accuracyMeters?: number }; clientIncidentId: string },
    { incidentId: string; receivedAt: string; duplicate: boolean },
  ];
  'panic:ack': [{ incidentId: string }, Incident];
  'panic:resolve': [{ incidentId: string; outcome: Outcome; note?: string; acknowledge?: boolean }, Incident];
  'panic:cancel': [{ incidentId: string }, Incident];
}
export type PanicRequest = keyof PanicRequests;

export type Reply<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };

/** Loose check that a signalling `panicAlert` payload is an Alert. */
export function isAlert(v: unknown): v is Alert {
  const a = v as Partial<Alert> | null;
  return typeof a === 'object' && a !== null && typeof a.incident?.id === 'string' && typeof a.participant?.role === 'string';
}
