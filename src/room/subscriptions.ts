import type { types } from 'mediasoup';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Source } from '../domain/roles.ts';
import { SfuError } from '../shared/errors.ts';
import type { StepState } from '../shared/serial.ts';
import type { Participant } from './participant.ts';
import { mayReceive, type ForwardingPolicy } from './forwarding-policy.ts';
import { applyViewport, type Viewport } from './viewport.ts';
import { spatialLayersNeeded } from './dynacast.ts';
import type { FrameRateFirst } from './frame-rate-first.ts';
import { mediaError } from './media-steps.ts';

/** What the subscriptions need of their room: who is in it, and whether a consumer may still exist. */
export interface SubscribingRoom {
  readonly id: string;
  readonly router: types.Router;
  readonly forwarding: ForwardingPolicy;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The admitted participants, now. */
  members(): Iterable<Participant>;
  /** The admitted participant that owns the open producer `producerId`. */
  ownerOf(producerId: string): Participant | undefined;
  /** Whether a consumer of `pub` for `sub` may exist now (both admitted, both with media consent). */
  mayStillConsume(sub: Participant, pub: Participant): boolean;
}

/**
 * The receiving side of a room: the rule that every participant allowed to subscribe gets a
 * consumer for every other participant's producers (policy and codecs permitting), consumer
 * priorities, pausing and viewports, and telling publishers how many spatial layers anyone needs.
 * Every method that awaits runs inside one of the room's steps (the `step` it is given, or the
 * step of the Room method that calls it).
 */
export class Subscriptions {
  readonly #room: SubscribingRoom;

  constructor(room: SubscribingRoom) {
    this.#room = room;
  }

  /** Consumers of a new producer of `pub` for everyone else, then the layers its publisher must send. */
  async fanOut(step: StepState, pub: Participant, producer: types.Producer, source: Source): Promise<void> {
    for (const sub of [...this.#room.members()]) {
      if (sub !== pub) await this.consume(step, sub, pub, producer, source);
    }
    this.updateLayersNeeded(producer.id);
  }

  /** Consumers of everyone else's producers for `sub` (its recv transport is new). */
  async consumeExisting(step: StepState, sub: Participant): Promise<void> {
    for (const pub of [...this.#room.members()]) {
      if (pub === sub) continue;
      for (const { producer, source } of [...pub.producers.values()]) await this.consume(step, sub, pub, producer, source);
    }
  }

  /** The subscriber paused or resumed a consumer; a consumer whose tile is hidden stays paused. */
  async setPaused(consumer: types.Consumer, paused: boolean): Promise<void> {
    consumer.appData.clientPaused = paused;
    // A consumer whose tile is hidden stays paused until the tile is visible again (setViewport).
    if (!paused && consumer.appData.hidden === true) return;
    try {
      await (paused ? consumer.pause() : consumer.resume());
      this.updateLayersNeeded(consumer.producerId);
    } catch (err) {
      throw mediaError(err);
    }
  }

  /** A subscriber's tile for one of its video consumers changed size or visibility. */
  async setViewport(consumer: types.Consumer, viewport: Viewport): Promise<{ paused: boolean; spatialLayer?: number }> {
    if (consumer.kind !== 'video') throw new SfuError('INVALID_REQUEST', 'setViewport applies to video consumers');
    try {
      const { layer } = await applyViewport(consumer, viewport);
      this.updateLayersNeeded(consumer.producerId);
      return { paused: consumer.paused, ...(layer !== undefined ? { spatialLayer: layer } : {}) };
    } catch (err) {
      throw mediaError(err);
    }
  }

  /** Creates a paused consumer of `producer` for `sub` when policy and capabilities allow. */
  async consume(step: StepState, sub: Participant, pub: Participant, producer: types.Producer, source: Source): Promise<void> {
    const room = this.#room;
    if (step.abandoned || !sub.grant.subscribe || !sub.rtpCapabilities || producer.closed || sub.closed) return;
    if (!sub.mediaAllowed || !pub.mediaAllowed) return;
    if (!mayReceive(room.forwarding, room.id, sub.role, pub.role)) return;
    const transport = sub.recvTransport();
    if (!transport || sub.consumedProducers.has(producer.id)) return;
    if (!room.router.canConsume({ producerId: producer.id, rtpCapabilities: sub.rtpCapabilities })) {
      room.log.warn({ participant: sub.id, producer: producer.id }, 'participant cannot consume producer (codecs)');
      return;
    }
    sub.consumedProducers.add(producer.id);
    let consumer: types.Consumer;
    try {
      consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: sub.rtpCapabilities, paused: true, appData: { source } });
    } catch (err) {
      sub.consumedProducers.delete(producer.id);
      room.log.warn({ participant: sub.id, producer: producer.id, err }, 'consume failed');
      return;
    }
    // Either side may have left, withdrawn or closed its transport during the await.
    if (step.abandoned || transport.closed || producer.closed || !room.mayStillConsume(sub, pub)) {
      consumer.close();
      sub.consumedProducers.delete(producer.id);
      return;
    }
    // Audio first under congestion; then a clinician's view of a student; then a screen share (the
    // material everyone looks at); then every other video.
    const priority = consumer.kind === 'audio' ? 255 : sub.clinical && pub.role === 'student' && source === 'camera' ? 200 : source === 'screen' ? 150 : 100;
    const metrics = room.metrics;
    metrics.consumerOpened(consumer.kind);
    sub.consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => {
      metrics.consumerClosed(consumer.kind);
      sub.consumers.delete(consumer.id);
      sub.consumedProducers.delete(producer.id);
      this.updateLayersNeeded(producer.id);
    });
    await consumer.setPriority(priority).catch(() => undefined);
    if (consumer.closed) return;
    consumer.on('producerclose', () => sub.notify('consumerClosed', { consumerId: consumer.id }));
    consumer.on('layerschange', () => {
      metrics.consumerLayersChanged();
      (transport.appData.frameRateFirst as FrameRateFirst | undefined)?.poke();
    });
    consumer.on('producerpause', () => sub.notify('consumerPaused', { consumerId: consumer.id }));
    consumer.on('producerresume', () => sub.notify('consumerResumed', { consumerId: consumer.id }));
    sub.notify('newConsumer', {
      consumerId: consumer.id,
      producerId: producer.id,
      participantId: pub.id,
      kind: consumer.kind,
      source,
      rtpParameters: consumer.rtpParameters,
      producerPaused: consumer.producerPaused,
    });
  }

  /** Tells a publisher when the number of spatial layers anyone needs of its producer changes. */
  updateLayersNeeded(producerId: string): void {
    const owner = this.#room.ownerOf(producerId);
    const entry = owner?.producers.get(producerId);
    if (!owner || !entry) return;
    const consumers = [...this.#room.members()].flatMap((p) => [...p.consumers.values()].filter((c) => c.producerId === producerId));
    const needed = spatialLayersNeeded(entry.producer, consumers);
    if (needed === undefined || entry.producer.appData.layersNeeded === needed) return;
    entry.producer.appData.layersNeeded = needed;
    owner.notify('layersNeeded', { producerId, spatialLayers: needed });
  }
}
