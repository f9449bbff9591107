import type { types } from 'mediasoup';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { PlacedRouter } from '../media/worker-pool.ts';
import type { LeaveReason, RoomCloseReason, SpeakerInfo } from '../domain/notifications.ts';
import { SfuError } from '../shared/errors.ts';
import { TypedEmitter } from '../shared/emitter.ts';
import { SerialQueue, type RunOptions, type StepState } from '../shared/serial.ts';
import { Participant, type TransportDirection } from './participant.ts';
import { mayReceive, type ForwardingPolicy } from './forwarding-policy.ts';
import type { Viewport } from './viewport.ts';
import { ActiveSpeaker } from './active-speaker.ts';
import { RoomE2ee, type KeyEntry, type RelayResult } from './e2ee.ts';
import { Subscriptions } from './subscriptions.ts';
import { openProducer, openTransport, type ProduceRequest, type PublishingRoom, type TransportSettings } from './transports.ts';
import { assertLive, mediaError } from './media-steps.ts';
import type { E2eeMode, E2eeView } from '../domain/e2ee.ts';

export interface RoomOptions {
  readonly id: string;
  readonly placed: PlacedRouter;
  readonly maxParticipants: number;
  readonly forwarding: ForwardingPolicy;
  readonly transport: TransportSettings;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** A step (a worker or store call) that takes longer is abandoned: the caller gets MEDIA_ERROR, the room moves on. */
  readonly stepTimeoutMs: number;
  /** The E2EE mode of a room whose first participant's token has no `e2ee` claim (`e2ee.mode`). */
  readonly e2eeMode: E2eeMode;
}

export type RoomEvents = {
  /** The room closed: every participant was told and removed. */
  close: [reason: RoomCloseReason];
  /** The last participant left. */
  empty: [];
  /** A participant became visible in the room (admitted, or restored from another node). */
  admitted: [participant: Participant];
  /** A participant left the room for good (leave, kick, end of its grace period; not when the room closes). */
  left: [participant: Participant];
};

export type { ProduceRequest };

/** What a join hands the room: its durable records, and the conditions re-checked around them. */
export interface AdmissionHooks {
  /** Throws a coded error when the join must not proceed now (connection gone, identity revoked). */
  recheck(): void;
  /** Makes the join's records durable; runs inside the room's admission step. */
  commit(): Promise<void>;
  /** A detached participant of the same identity that this join takes the place of (removed at admission). */
  readonly replaces?: Participant | undefined;
}

/**
 * A session's room: one mediasoup router, its admitted participants, and the rule that every
 * participant allowed to subscribe gets a consumer for every other participant's producers.
 *
 * Concurrency: every change that awaits the worker or the store (admit, transports, produce,
 * consume, pause/resume, viewport) runs as one step of the room's serial queue, so steps never
 * interleave; identity and seat are reserved synchronously before the first await. Changes that
 * only cut (remove, withdraw, close a transport or producer, close the room) take effect at once,
 * synchronously; every step re-checks the room and the participant after each await and closes
 * what it created if they changed, and registers each mediasoup object as soon as it exists.
 */
export class Room extends TypedEmitter<RoomEvents> {
  readonly id: string;
  readonly #router: types.Router;
  readonly #webRtcServer: types.WebRtcServer;
  readonly #opts: RoomOptions;
  readonly #log: Logger;
  readonly #participants = new Map<string, Participant>();
  /** Joins under way by identity: their seat and identity are taken. */
  readonly #joining = new Map<string, Participant>();
  readonly #steps = new SerialQueue();
  readonly #stepOptions: RunOptions;
  readonly #speaker: ActiveSpeaker;
  readonly #e2ee: RoomE2ee;
  /** What the room's transports, producers and consumers (transports.ts, subscriptions.ts) see of it. */
  readonly #media: PublishingRoom;
  readonly #subscriptions: Subscriptions;
  /** Joins between opening the room and admission: an empty room is not closed under them. */
  #pendingJoins = 0;
  #closed = false;

  constructor(opts: RoomOptions) {
    super();
    this.id = opts.id;
    this.#opts = opts;
    this.#router = opts.placed.router;
    this.#webRtcServer = opts.placed.webRtcServer;
    this.#log = opts.log.child({ room: opts.id });
    this.#stepOptions = {
      timeoutMs: opts.stepTimeoutMs,
      timeoutError: () => new SfuError('MEDIA_ERROR', `the room's step did not finish within ${opts.stepTimeoutMs} ms; retry`),
    };
    this.#router.on('workerclose', () => this.close('WORKER_DIED'));
    this.#speaker = new ActiveSpeaker(this.#router, () => this.#onSpeaker());
    // A sender key goes only where that sender's media may go (subscribe permission, forwarding policy).
    this.#e2ee = new RoomE2ee(opts.e2eeMode, opts.metrics, (sub, pub) => sub.grant.subscribe && mayReceive(opts.forwarding, opts.id, sub.role, pub.role));
    const media: PublishingRoom = {
      id: opts.id,
      router: this.#router,
      webRtcServer: this.#webRtcServer,
      forwarding: opts.forwarding,
      transport: opts.transport,
      log: this.#log,
      metrics: opts.metrics,
      speaker: this.#speaker,
      get subscriptions() { return subscriptions; },
      members: () => this.#participants.values(),
      ownerOf: (producerId) => this.#ownerOf(producerId),
      mayStillConsume: (sub, pub) => this.#mayStillConsume(sub, pub),
      assertMedia: (p) => this.#assertMedia(p),
      isMember: (p) => this.#participants.get(p.id) === p,
      broadcast: (except, fn) => this.#broadcast(except, fn),
      step: (task) => this.#step(task),
    };
    const subscriptions = new Subscriptions(media);
    this.#media = media;
    this.#subscriptions = subscriptions;
  }

  get closed(): boolean { return this.#closed; }
  get rtpCapabilities(): types.RtpCapabilities { return this.#router.rtpCapabilities; }
  get workerPid(): number { return this.#opts.placed.workerPid; }
  get participants(): Participant[] { return [...this.#participants.values()]; }
  get size(): number { return this.#participants.size; }

  participant(id: string): Participant | undefined { return this.#participants.get(id); }

  /** The room's E2EE mode (fixed by its first participant) and whether its media is end-to-end encrypted. */
  get e2ee(): { mode: E2eeMode; active: boolean } { return { mode: this.#e2ee.mode, active: this.#e2ee.active }; }

  /** The join response's `e2ee` for `p` (the others' public keys when the room is encrypted). */
  e2eeView(p: Participant): E2eeView { return this.#e2ee.view(p, this.#participants.values()); }

  /** e2eeKeys: relays `p`'s sender key, encrypted to each `to`, to those who may receive its media (src/room/e2ee.ts). */
  relayKeys(p: Participant, epoch: number, keys: readonly KeyEntry[]): RelayResult {
    this.#assertOpen(p);
    return this.#e2ee.relay(p, epoch, keys, this.#participants);
  }

  /**
   * The room's dominant speaker, as last named by the observer: only while that participant is in
   * the room and that producer open (a speaker who left, or whose microphone closed, is nobody's).
   */
  get activeSpeaker(): SpeakerInfo | undefined {
    const producerId = this.#speaker.current;
    const owner = producerId === undefined ? undefined : this.#ownerOf(producerId);
    return owner && producerId !== undefined ? { participantId: owner.id, producerId } : undefined;
  }

  byIdentity(identity: string): Participant | undefined {
    for (const p of this.#participants.values()) if (p.identity === identity) return p;
    return undefined;
  }

  /** Marks a join in progress (returns its release): the room is closed empty only when none is left. */
  reserve(): () => void {
    this.#pendingJoins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#pendingJoins--;
      if (this.#pendingJoins === 0 && this.#participants.size === 0 && !this.#closed) this.safeEmit('empty');
    };
  }

  /** Queues one step of the room, with the room's step deadline. */
  #step<T>(task: (state: StepState) => Promise<T>): Promise<T> {
    return this.#steps.run(task, this.#stepOptions);
  }

  /** Joins under way (reserved seats). */
  get joining(): number { return this.#joining.size; }

  /**
   * Admission of a participant created for a join (state `joining`). Its identity and seat are
   * reserved at once, before any await (DUPLICATE_IDENTITY, ROOM_FULL); then, as one room step:
   * recheck, commit (durable records), recheck, and the participant becomes visible to the others.
   * All or nothing: on any failure the reservation is released and nobody is admitted.
   */
  async admit(p: Participant, hooks: AdmissionHooks): Promise<void> {
    if (this.#closed) throw new SfuError('ROOM_CLOSED', 'room is closed');
    const present = this.byIdentity(p.identity);
    const replacing = present !== undefined && present === hooks.replaces && present.state === 'detached';
    if ((present && !replacing) || this.#joining.has(p.identity)) {
      throw new SfuError('DUPLICATE_IDENTITY', 'this identity is already in the room; resume with its resume token');
    }
    const seats = this.#participants.size + this.#joining.size - (replacing ? 1 : 0);
    if (seats >= this.#opts.maxParticipants) throw new SfuError('ROOM_FULL', 'room is full');
    this.#e2ee.check(p);
    this.#joining.set(p.identity, p);
    try {
      await this.#step(async (step) => {
        this.#assertAdmissible(p, hooks);
        await hooks.commit();
        this.#assertAdmissible(p, hooks);
        if (step.abandoned) return;
        if (replacing) {
          // Resumed meanwhile by a connection holding its resume token: that session stands.
          if (present.state !== 'detached' && !present.closed) throw new SfuError('DUPLICATE_IDENTITY', 'this identity resumed its session meanwhile');
          this.remove(present, 'DISCONNECTED');
        }
        this.#admitNow(p);
      });
    } finally {
      if (this.#joining.get(p.identity) === p) this.#joining.delete(p.identity);
    }
  }

  #assertAdmissible(p: Participant, hooks: AdmissionHooks): void {
    if (this.#closed) throw new SfuError('ROOM_CLOSED', 'room is closed');
    hooks.recheck();
    // The first admission (this room step or an earlier one) fixed the room's E2EE mode.
    this.#e2ee.check(p);
  }

  #admitNow(p: Participant): void {
    this.#joining.delete(p.identity);
    this.#participants.set(p.id, p);
    p.admitted();
    this.#e2ee.admitted(p);
    this.#opts.metrics.participantAdmitted(p.role);
    this.#log.info({ participant: p.id, role: p.role }, 'participant admitted');
    this.#broadcast(p, (o) => o.notify('participantJoined', {
      participantId: p.id, identity: p.identity, role: p.role, displayName: p.displayName,
      ...(p.restored ? { restored: true } : {}),
      ...(o.clinical ? { safety: p.safetyView() } : {}),
      ...this.#e2ee.publicKeyOf(p),
    }));
    this.safeEmit('admitted', p);
  }

  /** Removes a participant, closes its media and tells the others. Idempotent. */
  remove(p: Participant, reason: LeaveReason): void {
    if (!this.#participants.delete(p.id)) return;
    p.close();
    this.#opts.metrics.participantLeft(p.role);
    this.#log.info({ participant: p.id, reason }, 'participant left');
    for (const o of this.#participants.values()) o.notify('participantLeft', { participantId: p.id, reason });
    this.#e2ee.left(p, reason, this.#participants.values());
    this.safeEmit('left', p);
    if (this.#participants.size === 0 && this.#pendingJoins === 0) this.safeEmit('empty');
  }

  createTransport(p: Participant, direction: TransportDirection, rtpCapabilities?: types.RtpCapabilities) {
    return this.#step((step) => openTransport(this.#media, step, p, direction, rtpCapabilities));
  }

  connectTransport(p: Participant, transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    return this.#step(async () => {
      this.#assertMedia(p);
      const t = p.transport(transportId);
      // dtlsState stays 'new' until ICE connects: appData.connected marks a connect() the worker accepted.
      if (t.dtlsState !== 'new' || t.appData.connected === true) throw new SfuError('INVALID_REQUEST', `transport ${transportId} is already connected`);
      try {
        await t.connect({ dtlsParameters });
        t.appData.connected = true;
      } catch (err) {
        throw mediaError(err);
      }
    });
  }

  /** Closes one of the participant's transports (and its producers or consumers). */
  closeTransport(p: Participant, transportId: string): void {
    this.#assertOpen(p);
    p.transport(transportId).close();
  }

  restartIce(p: Participant, transportId: string): Promise<types.IceParameters> {
    return this.#step(async () => {
      this.#assertMedia(p);
      const transport = p.transport(transportId);
      let ice: types.IceParameters;
      try {
        ice = await transport.restartIce();
      } catch (err) {
        throw mediaError(err);
      }
      this.#assertMedia(p);
      if (transport.closed) throw new SfuError('TRANSPORT_NOT_FOUND', `transport ${transportId} was closed`);
      return ice;
    });
  }

  produce(p: Participant, req: ProduceRequest): Promise<string> {
    return this.#step((step) => openProducer(this.#media, step, p, req));
  }

  /** Closes a producer at its owner's request. */
  closeProducer(p: Participant, producerId: string): void {
    this.#assertOpen(p);
    p.producer(producerId).producer.close();
  }

  setProducerPaused(p: Participant, producerId: string, paused: boolean): Promise<void> {
    return this.#step(async () => {
      this.#assertOpen(p);
      const { producer } = p.producer(producerId);
      try {
        await (paused ? producer.pause() : producer.resume());
      } catch (err) {
        throw mediaError(err);
      }
    });
  }

  setConsumerPaused(p: Participant, consumerId: string, paused: boolean): Promise<void> {
    return this.#step(async () => {
      this.#assertMedia(p);
      await this.#subscriptions.setPaused(p.consumer(consumerId), paused);
    });
  }

  /** A subscriber's tile for one of its video consumers changed size or visibility. */
  setViewport(p: Participant, consumerId: string, viewport: Viewport): Promise<{ paused: boolean; spatialLayer?: number }> {
    return this.#step(async () => {
      this.#assertMedia(p);
      return this.#subscriptions.setViewport(p.consumer(consumerId), viewport);
    });
  }

  /**
   * Withdraws consent scopes. Without `telehealth` no media may flow: every transport of the
   * participant closes at once (its producers and consumers with it; peers get consumerClosed).
   * The participant stays in the room (the panic channel stays open for it). Everyone is told.
   */
  withdrawConsent(p: Participant, scopes: readonly string[]): void {
    this.#assertOpen(p);
    p.withdrawals++;
    const hadMedia = p.mediaAllowed;
    for (const s of scopes) p.facts.consentScopes.delete(s);
    if (!p.mediaAllowed) {
      for (const { transport } of [...p.transports.values()]) transport.close();
    }
    for (const o of this.#participants.values()) o.notify('consentWithdrawn', { participantId: p.id, scopes: [...scopes] });
    // It held the others' sender keys until now: they make new ones it never gets.
    if (hadMedia && !p.mediaAllowed) this.#e2ee.withdrew(p, this.#participants.values());
  }

  /**
   * Consent granted again after a `telehealth` withdrawal, as one step of the room: refused with
   * CONSENT_IN_FORCE while telehealth is held; `commit` makes the consent record durable; then,
   * re-checked (still in the room, no withdrawal meanwhile: a withdrawal always wins), the scopes
   * are in force again, media may be set up again, and everyone is told `consentGranted`.
   */
  grantConsent(p: Participant, scopes: readonly string[], commit: () => Promise<void>): Promise<void> {
    return this.#step(async (step) => {
      this.#assertOpen(p);
      if (p.mediaAllowed) throw new SfuError('CONSENT_IN_FORCE', 'telehealth consent is in force: there is nothing to grant again');
      const withdrawals = p.withdrawals;
      await commit();
      assertLive(step, () => this.#assertOpen(p));
      if (p.withdrawals !== withdrawals) throw new SfuError('CONSENT_WITHDRAWN', 'consent was withdrawn again while this consent was recorded; the withdrawal stands');
      for (const s of scopes) p.facts.consentScopes.add(s);
      for (const o of this.#participants.values()) o.notify('consentGranted', { participantId: p.id, scopes: [...scopes] });
    });
  }

  /** The participant's connection dropped: it stays for `graceMs` (then leaves DISCONNECTED); the others are told. */
  detach(p: Participant, graceMs: number): void {
    if (p.closed || this.#participants.get(p.id) !== p) return;
    p.detach(graceMs, () => this.remove(p, 'DISCONNECTED'));
    this.#broadcast(p, (o) => o.notify('participantConnection', { participantId: p.id, state: 'reconnecting', graceSeconds: Math.round(graceMs / 1000) }));
  }

  /** A detached participant's connection is back (a resume): the others are told. */
  reattached(p: Participant): void {
    if (p.closed || this.#participants.get(p.id) !== p) return;
    this.#broadcast(p, (o) => o.notify('participantConnection', { participantId: p.id, state: 'connected' }));
  }

  /** Records a new location summary and tells the clinical roles in the room. */
  updateLocation(p: Participant, location: { region: string; description: string }, emergencyContact?: { name: string; phone: string }): void {
    this.#assertOpen(p);
    p.facts.location = location;
    if (emergencyContact) p.facts.emergencyContact = emergencyContact;
    for (const o of this.#participants.values()) {
      if (o !== p && o.clinical) o.notify('locationUpdated', { participantId: p.id, location, emergencyContact: p.facts.emergencyContact });
    }
  }

  #onSpeaker(): void {
    const speaker = this.activeSpeaker;
    if (!speaker) return;
    for (const o of this.#participants.values()) o.notify('activeSpeaker', speaker);
  }

  /** The admitted participant that owns the open producer `producerId`. */
  #ownerOf(producerId: string): Participant | undefined {
    for (const p of this.#participants.values()) if (p.producers.has(producerId)) return p;
    return undefined;
  }

  /** Whether a consumer of `pub` for `sub` may exist now (both admitted, both with media consent). */
  #mayStillConsume(sub: Participant, pub: Participant): boolean {
    return !this.#closed && this.#participants.get(sub.id) === sub && this.#participants.get(pub.id) === pub
      && !sub.closed && !pub.closed && sub.mediaAllowed && pub.mediaAllowed;
  }

  #assertMedia(p: Participant): void {
    this.#assertOpen(p);
    if (!p.mediaAllowed) throw new SfuError('CONSENT_WITHDRAWN', 'telehealth consent was withdrawn: no media for this participant');
  }

  #assertOpen(p: Participant): void {
    if (this.#closed) throw new SfuError('ROOM_CLOSED', 'room is closed');
    if (p.closed || this.#participants.get(p.id) !== p) throw new SfuError('NOT_JOINED', 'participant is not in the room');
  }

  #broadcast(except: Participant, fn: (o: Participant) => void): void {
    for (const o of this.#participants.values()) if (o !== except) fn(o);
  }

  /** Tells everyone, removes everyone, closes the router. Idempotent. */
  close(reason: RoomCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#log.info({ reason }, 'room closed');
    for (const p of this.#participants.values()) {
      p.notify('roomClosed', { reason });
      p.close();
      this.#opts.metrics.participantLeft(p.role);
    }
    this.#participants.clear();
    this.#joining.clear();
    this.#e2ee.close();
    if (!this.#router.closed) this.#router.close();
    this.safeEmit('close', reason);
  }
}
