import type { types } from 'mediasoup';
import { SOURCE_KIND, type Source } from '../domain/roles.ts';
import { SfuError } from '../shared/errors.ts';
import type { StepState } from '../shared/serial.ts';
import type { Participant, TransportDirection } from './participant.ts';
import { FrameRateFirst } from './frame-rate-first.ts';
import type { ActiveSpeaker } from './active-speaker.ts';
import type { SubscribingRoom, Subscriptions } from './subscriptions.ts';
import { assertLive, closeUnless, mediaError } from './media-steps.ts';

/** The room's transport settings (`RoomOptions.transport`). */
export interface TransportSettings {
  initialAvailableOutgoingBitrate: number;
  maxIncomingBitrate: number;
  maxOutgoingBitrate: number;
  frameRateFirst: boolean;
}

export interface ProduceRequest {
  readonly transportId: string;
  readonly kind: types.MediaKind;
  readonly rtpParameters: types.RtpParameters;
  readonly source: Source;
  readonly paused?: boolean | undefined;
}

/** What opening transports and producers needs of the room, besides what its subscriptions need. */
export interface PublishingRoom extends SubscribingRoom {
  readonly webRtcServer: types.WebRtcServer;
  readonly transport: TransportSettings;
  readonly subscriptions: Subscriptions;
  readonly speaker: ActiveSpeaker;
  /** Throws unless `p` is in the open room with media consent (NOT_JOINED, ROOM_CLOSED, CONSENT_WITHDRAWN). */
  assertMedia(p: Participant): void;
  /** Whether `p` is admitted in the room now. */
  isMember(p: Participant): boolean;
  /** Calls `fn` for every admitted participant but `except`. */
  broadcast(except: Participant, fn: (o: Participant) => void): void;
  /** Queues one step of the room. */
  step<T>(task: (state: StepState) => Promise<T>): Promise<T>;
}

const MAX_TRANSPORTS_PER_DIRECTION = 1;
const MAX_PRODUCERS_PER_SOURCE = 1;

/**
 * Opens a WebRTC transport for `p` on the room's router, as a step of the room: limits and
 * permissions first; re-checked after every await (a withdrawal, removal or room close meanwhile
 * closes it). A recv transport gets the frame-rate-first hold (when configured) and, after the
 * response, consumers of everything already published.
 */
export async function openTransport(room: PublishingRoom, step: StepState, p: Participant, direction: TransportDirection, rtpCapabilities?: types.RtpCapabilities) {
  room.assertMedia(p);
  const existing = [...p.transports.values()].filter((t) => t.direction === direction).length;
  if (existing >= MAX_TRANSPORTS_PER_DIRECTION) throw new SfuError('TRANSPORT_LIMIT', `a ${direction} transport already exists`);
  if (direction === 'send' && p.grant.publish.size === 0) throw new SfuError('PERMISSION_DENIED', 'this participant may not publish');
  if (direction === 'recv') {
    if (!p.grant.subscribe) throw new SfuError('PERMISSION_DENIED', 'this participant may not subscribe');
    if (!rtpCapabilities) throw new SfuError('INVALID_REQUEST', 'rtpCapabilities is required for a recv transport');
  }
  const settings = room.transport;
  let transport: types.WebRtcTransport;
  try {
    transport = await room.router.createWebRtcTransport({
      webRtcServer: room.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: settings.initialAvailableOutgoingBitrate,
    });
  } catch (err) {
    throw mediaError(err);
  }
  // Re-checked after the await: a withdrawal, removal or room close meanwhile cut this participant's media.
  closeUnless(transport, () => assertLive(step, () => room.assertMedia(p)));
  p.transports.set(transport.id, { transport, direction });
  transport.observer.once('close', () => p.transports.delete(transport.id));
  if (direction === 'send' && settings.maxIncomingBitrate > 0) {
    await transport.setMaxIncomingBitrate(settings.maxIncomingBitrate).catch(() => undefined);
  }
  if (direction === 'recv' && settings.maxOutgoingBitrate > 0) {
    await transport.setMaxOutgoingBitrate(settings.maxOutgoingBitrate).catch(() => undefined);
  }
  closeUnless(transport, () => assertLive(step, () => room.assertMedia(p)));
  if (transport.closed) throw new SfuError('TRANSPORT_NOT_FOUND', `transport ${transport.id} was closed`);
  if (direction === 'recv') {
    p.rtpCapabilities = rtpCapabilities;
    if (settings.frameRateFirst) transport.appData.frameRateFirst = new FrameRateFirst({
      transport,
      consumers: () => [...p.consumers.values()],
      producer: (id) => room.ownerOf(id)?.producers.get(id)?.producer,
      onEvent: (event) => room.metrics.consumerBandwidthHold(event),
      maxOutgoingBitrate: settings.maxOutgoingBitrate,
    });
    // After the response: the client must know its recv transport before it hears of consumers.
    setImmediate(() => void room.step((s) => room.subscriptions.consumeExisting(s, p)).catch((err: unknown) => room.log.warn({ err }, 'consumers for a new recv transport failed')));
  }
  return {
    transportId: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}

/**
 * Opens a producer for `p` on its send transport, as a step of the room, then consumers of it for
 * everyone who may receive it. Returns the producer's id.
 */
export async function openProducer(room: PublishingRoom, step: StepState, p: Participant, req: ProduceRequest): Promise<string> {
  room.assertMedia(p);
  if (!p.grant.publish.has(req.source)) throw new SfuError('PERMISSION_DENIED', `this participant may not publish ${req.source}`);
  if (SOURCE_KIND[req.source] !== req.kind) throw new SfuError('INVALID_REQUEST', `source ${req.source} carries ${SOURCE_KIND[req.source]}, not ${req.kind}`);
  const sameSource = [...p.producers.values()].filter((e) => e.source === req.source).length;
  if (sameSource >= MAX_PRODUCERS_PER_SOURCE) throw new SfuError('PRODUCER_LIMIT', `a ${req.source} producer already exists`);
  const transport = p.transport(req.transportId, 'send');
  let producer: types.Producer;
  try {
    producer = await transport.produce({ kind: req.kind, rtpParameters: req.rtpParameters, paused: req.paused ?? false, appData: { source: req.source } });
  } catch (err) {
    throw mediaError(err);
  }
  // The transport may have closed during the await (withdrawal, removal): mediasoup then never
  // tells this producer, so it is closed here rather than left listed.
  closeUnless(producer, () => {
    assertLive(step, () => room.assertMedia(p));
    if (transport.closed) throw new SfuError('TRANSPORT_NOT_FOUND', `transport ${req.transportId} was closed`);
  });
  const metrics = room.metrics;
  metrics.producerOpened(producer.kind);
  p.producers.set(producer.id, { producer, source: req.source });
  producer.observer.once('close', () => {
    metrics.producerClosed(producer.kind);
    p.producers.delete(producer.id);
    if (room.isMember(p)) {
      room.broadcast(p, (o) => o.notify('producerClosed', { producerId: producer.id, participantId: p.id }));
    }
  });
  await room.speaker.add(producer).catch((err) => room.log.warn({ err }, 'active speaker observer failed'));
  await room.subscriptions.fanOut(step, p, producer, req.source);
  if (producer.closed) throw new SfuError('PRODUCER_NOT_FOUND', `producer ${producer.id} was closed`);
  return producer.id;
}
