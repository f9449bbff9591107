import type { types } from 'mediasoup';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { WorkerPool } from '../media/worker-pool.ts';
import type { RoomCloseReason } from '../domain/notifications.ts';
import type { E2eeMode } from '../domain/e2ee.ts';
import { SfuError } from '../shared/errors.ts';
import { Room } from './room.ts';
import type { Participant } from './participant.ts';
import type { ForwardingPolicy } from './forwarding-policy.ts';

/** A participant admitted to (or restored in) room `roomId`, or gone from it for good. */
export type ParticipantListener = (change: 'admitted' | 'left', roomId: string, participant: Participant) => void;

export interface RoomRegistryOptions {
  readonly pool: WorkerPool;
  readonly maxParticipants: number;
  readonly forwarding: ForwardingPolicy;
  readonly transport: { initialAvailableOutgoingBitrate: number; maxIncomingBitrate: number; maxOutgoingBitrate: number; frameRateFirst: boolean };
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly stepTimeoutMs: number;
  /** `e2ee.mode`: a room's E2EE mode unless its first participant's token says otherwise. */
  readonly e2eeMode: E2eeMode;
}

/**
 * The rooms open on this node. A room is created on first join (one router on the
 * least-loaded worker) and closed when its last participant is gone.
 */
export class RoomRegistry {
  readonly #opts: RoomRegistryOptions;
  readonly #rooms = new Map<string, Room>();
  readonly #pending = new Map<string, Promise<Room>>();
  readonly #closedListeners = new Set<(id: string) => void>();
  readonly #participantListeners = new Set<ParticipantListener>();
  #draining = false;

  constructor(opts: RoomRegistryOptions) {
    this.#opts = opts;
  }

  get draining(): boolean { return this.#draining; }
  get rooms(): Room[] { return [...this.#rooms.values()]; }
  get(id: string): Room | undefined { return this.#rooms.get(id); }

  /** Tells `listener` the id of every room that closes (after it left the registry); returns the unsubscribe. */
  onClosed(listener: (id: string) => void): () => void {
    this.#closedListeners.add(listener);
    return () => { this.#closedListeners.delete(listener); };
  }

  /** Tells `listener` of every participant admitted to, or leaving, a room of this node; returns the unsubscribe. */
  onParticipant(listener: ParticipantListener): () => void {
    this.#participantListeners.add(listener);
    return () => { this.#participantListeners.delete(listener); };
  }

  /** Refuse new rooms and joins from now on. */
  startDraining(): void { this.#draining = true; }

  /**
   * The open room (opened when needed) with a join reserved in it, so that the room is not closed
   * empty under the join; call `release` when the join is admitted or has failed.
   */
  async reserve(id: string): Promise<{ room: Room; release: () => void }> {
    for (;;) {
      const room = await this.#getOrCreate(id);
      // Checked and reserved in one synchronous step: a room that closed empty meanwhile is reopened.
      if (!room.closed) return { room, release: room.reserve() };
    }
  }

  async #getOrCreate(id: string): Promise<Room> {
    if (this.#draining) throw new SfuError('SERVER_DRAINING', 'server is draining; join another node');
    const existing = this.#rooms.get(id);
    if (existing && !existing.closed) return existing;
    let pending = this.#pending.get(id);
    if (!pending) {
      pending = this.#create(id).finally(() => this.#pending.delete(id));
      this.#pending.set(id, pending);
    }
    return pending;
  }

  async #create(id: string): Promise<Room> {
    let placed;
    try {
      placed = await this.#opts.pool.createRouter();
    } catch (err) {
      throw new SfuError('MEDIA_ERROR', `cannot create room: ${(err as Error).message}`);
    }
    const room = new Room({
      id, placed,
      maxParticipants: this.#opts.maxParticipants,
      forwarding: this.#opts.forwarding,
      transport: this.#opts.transport,
      log: this.#opts.log,
      metrics: this.#opts.metrics,
      stepTimeoutMs: this.#opts.stepTimeoutMs,
      e2eeMode: this.#opts.e2eeMode,
    });
    this.#rooms.set(id, room);
    this.#opts.metrics.roomOpened();
    room.on('empty', () => room.close('EMPTY'));
    for (const change of ['admitted', 'left'] as const) {
      room.on(change, (p) => {
        for (const listener of this.#participantListeners) listener(change, id, p);
      });
    }
    room.once('close', () => {
      if (this.#rooms.get(id) === room) this.#rooms.delete(id);
      this.#opts.metrics.roomClosed();
      for (const listener of this.#closedListeners) {
        try { listener(id); } catch (err) { this.#opts.log.error({ err }, 'a room-closed listener threw'); }
      }
    });
    return room;
  }

  /** Every WebRTC transport on this node (for the bitrate sampler). */
  *transports(): Iterable<types.WebRtcTransport> {
    for (const room of this.#rooms.values()) {
      for (const p of room.participants) for (const t of p.transports.values()) yield t.transport;
    }
  }

  /** Paused consumers on this node by reason, for the sfu_consumers_paused gauge. */
  pausedConsumers(): Record<string, number> {
    const counts: Record<string, number> = { hidden: 0, client: 0, producer: 0 };
    for (const room of this.#rooms.values()) {
      for (const p of room.participants) {
        for (const c of p.consumers.values()) {
          if (c.appData.hidden === true && c.paused) counts.hidden!++;
          else if (c.paused) counts.client!++;
          else if (c.producerPaused) counts.producer!++;
        }
      }
    }
    return counts;
  }

  /** Closes every room with a reason (drain deadline, shutdown). */
  closeAll(reason: RoomCloseReason): void {
    for (const room of this.#rooms.values()) room.close(reason);
  }
}
