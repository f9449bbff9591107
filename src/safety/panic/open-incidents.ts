import { deriveIncident, type Incident, type IncidentEvent, type IncidentStore } from '../../domain/incident.ts';
import { attempt, within } from '../../shared/deadline.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { foldEvent } from './fold.ts';
import { sameEvent, type SpoolEntry } from './spool.ts';

/** An open incident found at start: with its events, and whether the store has it (else only the backlog does). */
export interface FoundIncident {
  incident: Incident;
  events: IncidentEvent[];
  stored: boolean;
}

/**
 * Open incidents from the store (each read bounded by `deadlineMs`) and from the backlog not in
 * the store yet (`pending`: the spool and memory), merged: a raise only in the backlog is an
 * incident of its own; a backlog event not in the store yet is folded into its incident.
 * `ok` is false when the store's open incidents could not be read.
 */
export async function readOpenIncidents(store: IncidentStore, pending: readonly SpoolEntry[], deadlineMs: number, log: Logger): Promise<{ ok: boolean; found: FoundIncident[] }> {
  const read = await within(attempt(() => store.open()), deadlineMs);
  const ok = read.settled && read.ok;
  if (!read.settled || !read.ok) {
    log.error({ err: read.settled ? read.error : 'timeout' }, 'could not read open panic incidents from the store: resuming those in the spool, retrying');
  }
  const found = new Map<string, FoundIncident>();
  for (const incident of read.settled && read.ok ? read.value : []) found.set(incident.id, { incident, events: [], stored: true });
  const stored = [...found.values()];
  const events = await within(Promise.all(stored.map((f) => attempt(() => store.events(f.incident.id)))), deadlineMs);
  if (events.settled && events.ok) stored.forEach((f, i) => { f.events = events.value[i]!; });
  for (const e of pending) {
    if (e.op === 'raise') {
      if (!found.has(e.raise.id)) found.set(e.raise.id, { incident: deriveIncident(e.raise, []), events: [], stored: false });
      continue;
    }
    const f = found.get(e.event.incidentId);
    if (!f || f.events.some((k) => sameEvent(k, e.event))) continue;
    f.incident = foldEvent(f.incident, e.event);
    f.events.push(e.event);
  }
  return { ok, found: [...found.values()] };
}
