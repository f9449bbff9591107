import {
  deriveIncident, type Incident, type IncidentEvent, type IncidentRaise, type IncidentStore, type WebhookAttempt,
} from '../../src/domain/incident.ts';

/**
 * An in-memory IncidentStore with the real interface and the real semantics (a raise idempotent on
 * room, identity and client key; events appended in order; `append` fails for an unknown
 * incident) and a switch for its health:
 * - `up`: answers (asynchronously, like a real adapter);
 * - `down`: every call rejects at once;
 * - `hung`: every call returns a promise that does not settle until `release()` (never, if the
 *   test does not call it), as a SIGSTOPped database does.
 * `writes` lists the committed writes in commit order (`raise:<id>`, `<type>:<id>`).
 */
export class FakeIncidentStore implements IncidentStore {
  mode: 'up' | 'down' | 'hung' = 'up';
  readonly raises = new Map<string, IncidentRaise>();
  readonly eventsOf = new Map<string, IncidentEvent[]>();
  readonly attempts: WebhookAttempt[] = [];
  readonly writes: string[] = [];
  /** Calls made, by method (also the ones that failed or hung). */
  readonly calls: string[] = [];
  readonly #hung: (() => void)[] = [];
  /** Called inside every write before it commits (a test can append to the spool mid-flush, ...). */
  onWrite: ((what: string) => void) | undefined;

  /** Settles every hung call now (as if the database resumed); later calls follow `mode`. */
  release(): void {
    for (const go of this.#hung.splice(0)) go();
  }

  get hungCalls(): number { return this.#hung.length; }

  #call<T>(method: string, fn: () => T): Promise<T> {
    this.calls.push(method);
    if (this.mode === 'down') return Promise.reject(new Error('store down'));
    const run = (resolve: (v: T) => void, reject: (e: unknown) => void) => {
      try {
        resolve(fn());
      } catch (err) {
        reject(err);
      }
    };
    if (this.mode === 'hung') return new Promise<T>((resolve, reject) => this.#hung.push(() => run(resolve, reject)));
    return new Promise<T>((resolve, reject) => queueMicrotask(() => run(resolve, reject)));
  }

  #derive(id: string): Incident {
    return deriveIncident(this.raises.get(id)!, this.eventsOf.get(id) ?? []);
  }

  raise(r: IncidentRaise): Promise<{ incident: Incident; created: boolean }> {
    return this.#call('raise', () => {
      const existing = [...this.raises.values()].find((x) => x.room === r.room && x.identity === r.identity && x.clientIncidentId === r.clientIncidentId);
      if (existing) return { incident: this.#derive(existing.id), created: false };
      this.onWrite?.(`raise:${r.id}`);
      this.raises.set(r.id, r);
      this.eventsOf.set(r.id, []);
      this.writes.push(`raise:${r.id}`);
      return { incident: deriveIncident(r, []), created: true };
    });
  }

  append(e: IncidentEvent): Promise<Incident> {
    return this.#call('append', () => {
      if (!this.raises.has(e.incidentId)) throw new Error(`no incident ${e.incidentId}`);
      this.onWrite?.(`${e.type}:${e.incidentId}`);
      this.eventsOf.get(e.incidentId)!.push(e);
      this.writes.push(`${e.type}:${e.incidentId}`);
      return this.#derive(e.incidentId);
    });
  }

  get(id: string): Promise<Incident | undefined> {
    return this.#call('get', () => (this.raises.has(id) ? this.#derive(id) : undefined));
  }

  events(incidentId: string): Promise<IncidentEvent[]> {
    return this.#call('events', () => [...(this.eventsOf.get(incidentId) ?? [])]);
  }

  open(): Promise<Incident[]> {
    return this.#call('open', () => [...this.raises.keys()].map((id) => this.#derive(id)).filter((i) => i.state === 'open'));
  }

  recordWebhookAttempt(a: WebhookAttempt): Promise<void> {
    return this.#call('recordWebhookAttempt', () => { this.attempts.push(a); });
  }

  webhookAttempts(incidentId: string): Promise<WebhookAttempt[]> {
    return this.#call('webhookAttempts', () => this.attempts.filter((a) => a.incidentId === incidentId));
  }
}
