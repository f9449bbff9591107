import type { types } from 'mediasoup';
import type { Grant, Role, Source } from '../domain/roles.ts';
import type { NotificationName, Notifications, ProducerInfo, ParticipantInfo, SafetyView } from '../domain/notifications.ts';
import { SfuError } from '../shared/errors.ts';

/** How a participant's notifications reach its client; swapped on reconnection. */
export type Notify = <K extends NotificationName>(name: K, data: Notifications[K]) => void;

export interface ProducerEntry {
  readonly producer: types.Producer;
  readonly source: Source;
}

export type TransportDirection = 'send' | 'recv';

/** Roles that receive other participants' safety facts (location, emergency contact, consent). */
export const CLINICAL_ROLES: ReadonlySet<Role> = new Set<Role>(['clinician']);

/**
 * What admission established about a participant, kept in memory for the session: the consent
 * scopes in force and the latest location summary. Shown only to clinical roles; never logged.
 */
export interface ParticipantFacts {
  consentScopes: Set<string>;
  location?: { region: string; description: string } | undefined;
  emergencyContact?: { name: string; phone: string } | undefined;
}

/** Notifications kept for a disconnected participant, delivered on resume (bounded). */
const MAX_QUEUED = 500;

/**
 * joining: created for a join, identity and seat reserved in the room, not yet visible;
 * admitted: in the room with a connection attached (or about to be, once its join is answered);
 * detached: in the room, its connection lost, the grace period running; closed: gone for good.
 */
export type ParticipantState = 'joining' | 'admitted' | 'detached' | 'closed';

/**
 * One admitted person in a room: their grant, media objects and connection state.
 * The room owns the lifecycle; the participant only holds state and its own media.
 */
export class Participant {
  readonly id: string;
  readonly grant: Grant;
  readonly displayName: string | undefined;
  readonly resumeToken: string;
  /** Its E2EE public key (base64url of an uncompressed P-256 point), when its client can encrypt media; kept across resumes. */
  readonly publicKey: string | undefined;
  readonly facts: ParticipantFacts;
  /** Restored here from its admission records after the node that hosted it was lost (docs/scaling.md, "Node loss"). */
  readonly restored: boolean;
  readonly joinedAt = Date.now();
  readonly transports = new Map<string, { transport: types.WebRtcTransport; direction: TransportDirection }>();
  readonly producers = new Map<string, ProducerEntry>();
  readonly consumers = new Map<string, types.Consumer>();
  /** Producers this participant consumes or is being given a consumer for (no duplicates). */
  readonly consumedProducers = new Set<string>();
  /** Withdrawals so far: a consent granted again takes effect only if none came while it was being recorded. */
  withdrawals = 0;
  /** Set when the participant creates its recv transport. */
  rtpCapabilities: types.RtpCapabilities | undefined;
  #notify: Notify | undefined;
  /** Tells the currently attached connection it was replaced by a resumed one. */
  #release: (() => void) | undefined;
  #queue: { name: NotificationName; data: unknown }[] = [];
  /** Notifications not queued because the queue was full (told on attach). */
  #dropped = 0;
  #graceTimer: NodeJS.Timeout | undefined;
  #state: ParticipantState = 'joining';
  #everAttached = false;

  constructor(opts: { id: string; grant: Grant; displayName: string | undefined; resumeToken: string; facts?: ParticipantFacts; restored?: boolean; publicKey?: string | undefined }) {
    this.id = opts.id;
    this.publicKey = opts.publicKey;
    this.restored = opts.restored ?? false;
    this.facts = opts.facts ?? { consentScopes: new Set(['telehealth']) };
    this.grant = opts.grant;
    this.displayName = opts.displayName;
    this.resumeToken = opts.resumeToken;
  }

  get identity(): string { return this.grant.identity; }
  get role(): Role { return this.grant.role; }
  get state(): ParticipantState { return this.#state; }
  get closed(): boolean { return this.#state === 'closed'; }
  /** True while the client's socket is attached. */
  get connected(): boolean { return this.#notify !== undefined; }
  /** Whether a connection ever took this participant (it then knows the resume token). */
  get everAttached(): boolean { return this.#everAttached; }

  /** The room made it visible (called once by Room). */
  admitted(): void {
    if (this.#state === 'joining') this.#state = 'admitted';
  }
  /** Media may flow only while telehealth consent is in force. */
  get mediaAllowed(): boolean { return this.facts.consentScopes.has('telehealth'); }
  get clinical(): boolean { return CLINICAL_ROLES.has(this.role); }

  notify<K extends NotificationName>(name: K, data: Notifications[K]): void {
    if (this.#state === 'closed') return;
    if (this.#notify) {
      this.#notify(name, data);
    } else if (this.#queue.length < MAX_QUEUED) {
      this.#queue.push({ name, data });
    } else {
      this.#dropped++;
    }
  }

  /** The socket dropped: queue notifications and call `onExpire` after the grace period. */
  detach(graceMs: number, onExpire: () => void): void {
    if (this.#state === 'closed') return;
    this.#state = 'detached';
    this.#notify = undefined;
    this.#release = undefined;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(onExpire, graceMs);
    this.#graceTimer.unref();
  }

  /**
   * A connection takes this participant (join, or resume): a connection still attached is
   * released first; notifications queued while detached are delivered.
   */
  attach(notify: Notify, release: () => void): void {
    if (this.#state === 'closed') return;
    this.#state = 'admitted';
    this.#everAttached = true;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    const previous = this.#release;
    this.#release = release;
    this.#notify = notify;
    previous?.();
    const queued = this.#queue;
    const dropped = this.#dropped;
    this.#queue = [];
    this.#dropped = 0;
    for (const q of queued) notify(q.name, q.data as never);
    if (dropped > 0) notify('notificationsDropped', { count: dropped });
  }

  transport(id: string, direction?: TransportDirection): types.WebRtcTransport {
    const t = this.transports.get(id);
    if (!t || (direction && t.direction !== direction)) {
      throw new SfuError('TRANSPORT_NOT_FOUND', direction ? `no ${direction} transport ${id}` : `no transport ${id}`);
    }
    return t.transport;
  }

  recvTransport(): types.WebRtcTransport | undefined {
    for (const t of this.transports.values()) if (t.direction === 'recv') return t.transport;
    return undefined;
  }

  producer(id: string): ProducerEntry {
    const p = this.producers.get(id);
    if (!p) throw new SfuError('PRODUCER_NOT_FOUND', `no producer ${id}`);
    return p;
  }

  consumer(id: string): types.Consumer {
    const c = this.consumers.get(id);
    if (!c) throw new SfuError('CONSUMER_NOT_FOUND', `no consumer ${id}`);
    return c;
  }

  producerInfos(): ProducerInfo[] {
    return [...this.producers.values()].map(({ producer, source }) => ({
      producerId: producer.id, kind: producer.kind, source, paused: producer.paused,
    }));
  }

  /** How this participant looks to `viewer`: clinical roles also see consent, location and emergency contact. */
  info(viewer: Participant): ParticipantInfo {
    return {
      participantId: this.id, identity: this.identity, role: this.role, displayName: this.displayName,
      producers: this.producerInfos(), ...(viewer.clinical ? { safety: this.safetyView() } : {}),
      ...(this.#state === 'detached' ? { reconnecting: true as const } : {}),
    };
  }

  safetyView(): SafetyView {
    return { consentScopes: [...this.facts.consentScopes], location: this.facts.location, emergencyContact: this.facts.emergencyContact };
  }

  /** Closes every transport (and with them producers and consumers). Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#graceTimer);
    this.#notify = undefined;
    this.#release = undefined;
    this.#queue = [];
    this.#dropped = 0;
    for (const { transport } of this.transports.values()) transport.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    this.consumedProducers.clear();
  }
}
