import type { ParticipantFacts } from '../../room/participant.ts';
import type { Location, Store } from '../../store/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { attempt, within } from '../../shared/deadline.ts';
import type { KnownLocation } from './alert.ts';

/**
 * The latest location record per participant (session) committed on this node, in memory, so
 * that an alert never waits on the store for it. Bounded: the least recently recorded go first.
 */
export class LatestLocations {
  readonly #max: number;
  readonly #byParticipant = new Map<string, Location>();

  constructor(max = 10_000) {
    this.#max = max;
  }

  get size(): number { return this.#byParticipant.size; }

  set(participantId: string, location: Location): void {
    this.#byParticipant.delete(participantId);
    this.#byParticipant.set(participantId, location);
    while (this.#byParticipant.size > this.#max) this.#byParticipant.delete(this.#byParticipant.keys().next().value!);
  }

  get(participantId: string): Location | undefined {
    return this.#byParticipant.get(participantId);
  }
}

/**
 * The store, remembering in `memory` every location it commits (admissions and location
 * updates), after the commit. Every other member is the store's own, unchanged.
 */
export function rememberLocations(store: Store, memory: LatestLocations): Store {
  const recordAdmission: Store['recordAdmission'] = async (r) => {
    await store.recordAdmission(r);
    memory.set(r.sessionId, r.location);
  };
  const recordLocation: Store['recordLocation'] = async (r) => {
    await store.recordLocation(r);
    memory.set(r.sessionId, r.location);
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'recordAdmission') return recordAdmission;
      if (prop === 'recordLocation') return recordLocation;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** What the locator needs of the room registry: a room's admitted participant by id, with its in-memory facts. */
export interface RoomLookup {
  get(room: string): { participant(id: string): { readonly facts: Pick<ParticipantFacts, 'location' | 'emergencyContact'> } | undefined } | undefined;
}

/**
 * Where a participant is, for an alert, without waiting on a slow store: a participant in a room
 * on this node is answered from memory (its latest committed record, or the room's summary of it:
 * region, description, emergency contact); only one that is not here (e.g. an incident resumed
 * after a restart) costs a store read, bounded by `deadlineMs`.
 */
export function locator(opts: { rooms: RoomLookup; memory: LatestLocations; store: Pick<Store, 'latestLocation'>; deadlineMs: number; log: Logger }) {
  return async (participantId: string, room: string): Promise<KnownLocation | undefined> => {
    const participant = opts.rooms.get(room)?.participant(participantId);
    const remembered = opts.memory.get(participantId);
    if (participant) {
      if (remembered) return remembered;
      const { location, emergencyContact } = participant.facts;
      return location ? { ...location, ...(emergencyContact ? { emergencyContact } : {}) } : undefined;
    }
    if (remembered) return remembered;
    const read = await within(attempt(() => opts.store.latestLocation(participantId)), opts.deadlineMs);
    if (read.settled && read.ok) return read.value;
    opts.log.warn({ timedOut: !read.settled }, 'location for a panic alert not read from the store in time: sent without it');
    return undefined;
  };
}
