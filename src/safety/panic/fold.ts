import { deriveIncident, type Incident, type IncidentEvent } from '../../domain/incident.ts';
import { sameEvent } from './spool.ts';

/**
 * One event folded onto an incident's current state (what the store would derive with that event
 * appended): used while the event is in the spool or memory and the store cannot answer.
 */
export function foldEvent(incident: Incident, event: IncidentEvent): Incident {
  const next = deriveIncident(incident, [event]);
  return {
    ...next,
    tier: Math.max(incident.tier, next.tier),
    state: incident.state === 'resolved' ? 'resolved' : next.state,
  };
}

/** The events not in the store yet (`pending`, in order) folded onto an incident read from it, skipping those the store has. */
export function foldEvents(incident: Incident, stored: readonly IncidentEvent[], pending: readonly IncidentEvent[]): { incident: Incident; events: IncidentEvent[] } {
  let folded = incident;
  const events = [...stored];
  for (const e of pending) {
    if (e.incidentId !== incident.id || events.some((k) => sameEvent(k, e))) continue;
    folded = foldEvent(folded, e);
    events.push(e);
  }
  return { incident: folded, events };
}
