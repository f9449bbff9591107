import { t, tDynamic } from './i18n/language.ts';
import { Device } from 'mediasoup-client';
import type { ConnectionState, Consumer, Producer, RtpCapabilities, RtpParameters, Transport } from 'mediasoup-client/types';
import { Emitter } from './emitter.ts';
import { codeOf } from './errors.ts';
import { parseInbound, parseOutbound, selectedPath, selectedRtt, stuckIn } from './link-stats.ts';
import type { ConsumerRef, Direction, IcePath, InboundStat, OutboundStat, RecvSample } from './media-sample.ts';
export type { IcePath } from './media-sample.ts';
import type { SignallingClient } from './signalling.ts';
import type { FrameTransforms } from './e2ee-transforms.ts';
import type { Notifications, Source, TransportInfo } from './protocol.ts';
import { mark } from './timeline.ts';
import { CAMERA_ENCODINGS, SVC_ENCODINGS, SVC_MODE, type VideoPublishing } from './camera-encodings.ts';

export type { Direction, InboundStat, OutboundStat, RecvSample, VideoPublishing };

export interface RemoteTrack {
  readonly participantId: string;
  readonly consumerId: string;
  readonly source: Source;
  readonly track: MediaStreamTrack;
  readonly paused: boolean;
}

export type MediaLinkEvents = {
  trackAdded: [RemoteTrack];
  trackRemoved: [{ participantId: string; consumerId: string }];
  trackPaused: [{ participantId: string; consumerId: string; paused: boolean }];
  /** Something the person should know (a source that could not be sent or received). */
  notice: [() => string];
  /** A transport's connection state changed (mediasoup-client's connectionstatechange). */
  transportState: [Direction, ConnectionState];
};

type NewConsumer = Notifications['newConsumer'];

interface ConsumerEntry {
  readonly participantId: string;
  readonly source: Source;
  consumer: Consumer | undefined;
  closed: boolean;
  /** Its sender paused it (producerPaused, consumerPaused). */
  paused: boolean;
  /** The server paused it because its tile is hidden (setViewport answered `paused`). */
  hidden: boolean;
}

export interface MediaLinkOptions {
  /** From the join response (refreshed by restartIce). */
  iceServers: RTCIceServer[];
  /** 'relay': only TURN-relayed candidates (for networks that only allow the TURN server, or to test it). */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * End-to-end encryption (e2ee.ts): every sender and receiver goes through these transforms,
   * attached before negotiation; video is sent as VP8 (its header bytes stay in clear for the SFU).
   */
  transforms?: FrameTransforms | undefined;
}

/**
 * Opus frame length asked of the browser (the answer's `ptime`): 40 ms halves the audio packets of
 * 20 ms (14 % less worker CPU per 1:1 session, bench/README.md) for 20 ms more mouth-to-ear delay.
 */
const OPUS_PTIME_MS = 40;

/**
 * One joined participant's media path to the SFU: the mediasoup-client Device, a send transport
 * producing microphone and camera, and a recv transport consuming whatever the server offers.
 * It is closed as a whole (leave, failure, consent withdrawal, a fresh re-join); every step that
 * resumes after an await checks `closed` first.
 */
export class MediaLink {
  readonly events = new Emitter<MediaLinkEvents>();
  readonly #sig: SignallingClient;
  #iceServers: RTCIceServer[];
  readonly #iceTransportPolicy: RTCIceTransportPolicy;
  readonly #device: Device;
  readonly #transforms: FrameTransforms | undefined;
  #loaded = false;
  #send: Transport | undefined;
  #sendCreating: Promise<Transport | undefined> | undefined;
  #recv: Transport | undefined;
  readonly #producers = new Map<Source, Producer>();
  /** layersNeeded per producer id: applied in order, and kept for a producer not registered yet. */
  readonly #layersWanted = new Map<string, number>();
  #layersApplying: Promise<void> = Promise.resolve();
  readonly #consumers = new Map<string, ConsumerEntry>();
  /** newConsumer notifications that arrived before the recv transport existed. */
  #queued: NewConsumer[] = [];
  /** Where the server's transports listen ("UDP 203.0.113.5:40000"), for the person's IT team. */
  readonly #endpoints = new Set<string>();
  #closed = false;

  constructor(sig: SignallingClient, opts: MediaLinkOptions) {
    this.#sig = sig;
    this.#iceServers = opts.iceServers;
    this.#iceTransportPolicy = opts.iceTransportPolicy ?? 'all';
    this.#device = new Device();
    this.#transforms = opts.transforms;
  }

  get closed(): boolean { return this.#closed; }

  /** A transport's connection state (undefined before it exists or once the link closed). */
  transportState(direction: Direction): ConnectionState | undefined {
    return (direction === 'send' ? this.#send : this.#recv)?.connectionState;
  }

  /** The ids of our open transports (to close them on the server when rebuilding, media-care.ts). */
  transportIds(): string[] { return [this.#send, this.#recv].flatMap((t) => (t && !t.closed ? [t.id] : [])); }

  /** The iceServers of the latest join or restartIce response (a fresh TURN credential for new transports). */
  get iceServers(): RTCIceServer[] { return this.#iceServers; }

  /** The server's ICE candidates of our transports: protocol, address and port. */
  endpoints(): string[] {
    return [...this.#endpoints];
  }

  /** Loads the Device with the router's capabilities (from the join response). */
  async load(routerRtpCapabilities: RtpCapabilities): Promise<void> {
    await this.#device.load({ routerRtpCapabilities });
    this.#loaded = true;
    mark('device-loaded');
  }

  /** Creates the recv transport, then consumes what was offered meanwhile (`dropOffered`: offers for a recv transport let go, detachRecv). */
  async openRecv(opts: { dropOffered?: boolean } = {}): Promise<void> {
    if (opts.dropOffered) this.#queued = [];
    const info = await this.#sig.request('createTransport', { direction: 'recv', rtpCapabilities: this.#device.recvRtpCapabilities });
    if (this.#closed) return;
    const recv = this.#createTransport(info, 'recv');
    this.#recv = recv;
    mark('recv-transport');
    recv.on('connectionstatechange', (state) => state === 'connected' && mark('recv-connected'));
    const queued = this.#queued;
    this.#queued = [];
    for (const n of queued) void this.#consume(recv, n);
  }

  /**
   * Creates the send transport and produces the stream's microphone and camera: the camera as VP9
   * SVC when asked for and the browser can, VP8 simulcast otherwise.
   */
  async publish(stream: MediaStream, videoPublishing: VideoPublishing = 'vp8-simulcast'): Promise<void> {
    const send = await this.#sendTransport();
    if (!send) return;
    const problems: (() => string)[] = [];
    const audio = stream.getAudioTracks()[0];
    if (audio && this.#device.canProduce('audio')) {
      await this.#produce(send, 'mic', {
        track: audio,
        codecOptions: { opusDtx: true, opusFec: true, opusPtime: OPUS_PTIME_MS },
      }).catch((err: unknown) => problems.push(() => t('notice.sendMic', { code: codeOf(err) })));
    }
    const video = stream.getVideoTracks()[0];
    if (!this.#closed && video && this.#device.canProduce('video')) {
      const vp9 = this.#device.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === 'video/vp9');
      const simulcast = { track: video, encodings: CAMERA_ENCODINGS, codecOptions: { videoGoogleStartBitrate: 1000 } };
      // Under E2EE the camera is VP8 simulcast whatever the server asks (docs/security.md, "Limits").
      const camera = videoPublishing === 'vp9-svc' && vp9 && !this.#transforms
        ? this.#produce(send, 'camera', { ...simulcast, codec: vp9, encodings: SVC_ENCODINGS }).catch((err: unknown) => {
          console.warn('VP9 SVC refused; sending VP8 simulcast', err);
          return this.#closed ? undefined : this.#produce(send, 'camera', simulcast);
        })
        : this.#produce(send, 'camera', simulcast);
      await camera.catch((err: unknown) => problems.push(() => t('notice.sendCamera', { code: codeOf(err) })));
    }
    if (this.#closed) return;
    mark('produced');
    if (problems.length > 0) this.events.emit('notice', () => t('notice.sendFailed', { what: problems.map((p) => p()).join(t('notice.and')) }));
  }

  /** The send transport, created on first use (undefined once the link closed). */
  #sendTransport(): Promise<Transport | undefined> {
    this.#sendCreating ??= this.#sig.request('createTransport', { direction: 'send' }).then((info) => {
      if (this.#closed) return undefined;
      const send = this.#createTransport(info, 'send');
      this.#send = send;
      send.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
        const source = appData.source as Source;
        this.#sig.request('produce', { transportId: send.id, kind, rtpParameters, source }).then(({ producerId }) => ok({ id: producerId }), fail);
      });
      return send;
    });
    return this.#sendCreating;
  }

  /**
   * Publishes one more source (the screen share, screen-share.ts) on the send transport, made if
   * need be. Undefined when the link closed meanwhile; a refusal throws (its coded error).
   */
  async produceSource(source: Source, opts: Parameters<Transport['produce']>[0]): Promise<Producer | undefined> {
    const send = await this.#sendTransport();
    return send ? this.#produce(send, source, opts) : undefined;
  }

  /** Stops publishing a source: closes its producer here and on the server (others' consumers close). */
  async closeSource(source: Source): Promise<void> {
    const producer = this.#producers.get(source);
    if (!producer) return;
    producer.close();
    this.#producers.delete(source);
    this.#layersWanted.delete(producer.id);
    if (!this.#closed) await this.#sig.request('closeProducer', { producerId: producer.id }).catch(() => undefined);
  }

  async #produce(send: Transport, source: Source, opts: Parameters<Transport['produce']>[0]): Promise<Producer | undefined> {
    // stopTracks: false: the camera and mic outlive a producer (a fresh re-join reuses them).
    const producer = await send.produce({ ...opts, ...this.#encrypting(opts), stopTracks: false, appData: { source } });
    if (this.#closed) {
      producer.close();
      return undefined;
    }
    this.#producers.set(source, producer);
    if (this.#layersWanted.has(producer.id)) this.#applyLayers(producer);
    return producer;
  }

  /** Under E2EE: the sender's frames go through the worker from the start; video as VP8. */
  #encrypting(opts: Parameters<Transport['produce']>[0]): Partial<Parameters<Transport['produce']>[0]> {
    const transforms = this.#transforms;
    const kind = opts?.track?.kind;
    if (!transforms || (kind !== 'audio' && kind !== 'video')) return {};
    const codec = kind === 'video'
      ? this.#device.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === 'video/vp8')
      : undefined;
    return {
      ...(codec ? { codec } : {}),
      onRtpSender: (sender: RTCRtpSender) => transforms.attachSender(sender, kind, kind === 'audio' ? 'audio/opus' : 'video/VP8'),
    };
  }

  /**
   * The server's `layersNeeded`: nobody needs the upper spatial layers of this producer now, so the
   * browser stops encoding and sending them (simulcast: encodings disabled; SVC: fewer spatial layers).
   */
  layersNeeded(producerId: string, spatialLayers: number): void {
    this.#layersWanted.set(producerId, spatialLayers);
    const producer = [...this.#producers.values()].find((p) => p.id === producerId);
    if (producer) this.#applyLayers(producer);
  }

  #applyLayers(producer: Producer): void {
    this.#layersApplying = this.#layersApplying.then(async () => {
      const wanted = this.#layersWanted.get(producer.id);
      if (wanted === undefined || producer.closed || producer.appData.layers === wanted) return;
      const encodings = producer.rtpParameters.encodings ?? [];
      if (encodings.length > 1) await producer.setMaxSpatialLayer(Math.min(wanted, encodings.length) - 1);
      else if (encodings[0]?.scalabilityMode) {
        // Fewer spatial layers, and the top one kept at the resolution of the highest still needed
        // (L1T3 alone would encode one layer at full size).
        const top = Math.min(3, Math.max(1, wanted));
        await producer.setRtpEncodingParameters({ scalabilityMode: SVC_MODE(top), scaleResolutionDownBy: 2 ** (3 - top) } as RTCRtpEncodingParameters);
      }
      producer.appData.layers = wanted;
    }).catch((err: unknown) => console.warn('could not change the sent layers', err));
  }

  /** Tells the server how a consumer's tile is drawn (see viewport.ts). */
  async setViewport(consumerId: string, v: { width: number; height: number; visible: boolean }): Promise<void> {
    const entry = this.#consumers.get(consumerId);
    if (this.#closed || !entry?.consumer) return;
    const { paused } = await this.#sig.request('setViewport', { consumerId, width: Math.min(8192, v.width), height: Math.min(8192, v.height), visible: v.visible });
    entry.hidden = paused;
  }

  /** A newConsumer notification: consumed now, or once the recv transport exists. */
  offer(n: NewConsumer): void {
    if (this.#closed) return;
    if (this.#recv) void this.#consume(this.#recv, n);
    else this.#queued.push(n);
  }

  closeConsumer(consumerId: string): void {
    const entry = this.#consumers.get(consumerId);
    if (!entry) return;
    entry.closed = true;
    this.#consumers.delete(consumerId);
    if (entry.consumer) {
      entry.consumer.close();
      this.events.emit('trackRemoved', { participantId: entry.participantId, consumerId });
    }
  }

  /** Lets the recv transport go (notificationsDropped): it and its consumers closed here; its id, to close it on the server. */
  detachRecv(): string | undefined {
    const recv = this.#recv;
    this.#recv = undefined;
    for (const id of [...this.#consumers.keys()]) this.closeConsumer(id);
    recv?.close();
    return recv?.id;
  }

  closeConsumersOf(participantId: string): void {
    for (const [id, c] of this.#consumers) if (c.participantId === participantId) this.closeConsumer(id);
  }

  consumerPaused(consumerId: string, paused: boolean): void {
    const entry = this.#consumers.get(consumerId);
    if (entry) entry.paused = paused;
    if (entry?.consumer) this.events.emit('trackPaused', { participantId: entry.participantId, consumerId, paused });
  }

  /** The server closed one of our producers: returns its source, if it was ours. */
  producerClosed(producerId: string): Source | undefined {
    for (const [source, p] of this.#producers) {
      if (p.id !== producerId) continue;
      p.close();
      this.#producers.delete(source);
      return source;
    }
    return undefined;
  }

  /** Whether we publish `source` and it is not paused (undefined when we do not publish it). */
  sourceEnabled(source: Source): boolean | undefined {
    const p = this.#producers.get(source);
    return p ? !p.paused : undefined;
  }

  /** Mutes or unmutes a published source (pauses its producer on both ends). */
  async setSourceEnabled(source: Source, enabled: boolean): Promise<void> {
    const producer = this.#producers.get(source);
    if (!producer) return;
    if (enabled) producer.resume();
    else producer.pause();
    await this.#sig.request(enabled ? 'resumeProducer' : 'pauseProducer', { producerId: producer.id });
  }

  /** After a signalling outage: restarts ICE on transports that are not connected. */
  restartStalledIce(): void {
    for (const t of [this.#send, this.#recv]) {
      if (t && !t.closed && t.connectionState !== 'connected') void this.#restartIce(t);
    }
  }

  /** The person's Retry: new ICE credentials and fresh connectivity checks on both transports, connected or not. */
  async restartIce(): Promise<void> {
    await Promise.all([this.#send, this.#recv].map((t) => (t && !t.closed ? this.#restartIce(t, true) : undefined)));
  }

  /** Why a transport did not connect: 'dtls' when ICE found a path but the DTLS handshake did not complete. */
  async stuckIn(direction: Direction): Promise<'ice' | 'dtls'> {
    const t = direction === 'send' ? this.#send : this.#recv;
    return t && !t.closed ? stuckIn(await t.getStats()) : 'ice';
  }

  /**
   * One getStats() of the recv transport: its live consumers (whether media should be arriving),
   * their inbound streams, the round trip. Undefined without a recv transport.
   */
  async sampleRecv(): Promise<RecvSample | undefined> {
    const recv = this.#recv;
    if (!recv || recv.closed) return undefined;
    const byTrack = new Map<string, ConsumerRef>();
    for (const [consumerId, entry] of this.#consumers) {
      const c = entry.consumer;
      if (!c || c.closed) continue;
      byTrack.set(c.track.id, {
        consumerId,
        participantId: entry.participantId,
        source: entry.source,
        kind: c.kind === 'audio' ? 'audio' : 'video',
        expected: !entry.paused && !entry.hidden,
      });
    }
    // Nothing consumed: no getStats (the sample still says so, for the tiles' quality).
    if (byTrack.size === 0) return { at: performance.now(), state: recv.connectionState, consumers: [], inbound: [], rtt: undefined };
    const report = await recv.getStats();
    return {
      at: performance.now(),
      state: recv.connectionState,
      consumers: [...byTrack.values()],
      inbound: parseInbound(report, byTrack),
      rtt: selectedRtt(report),
    };
  }

  /**
   * The recv transport's inbound-rtp streams that belong to live consumers (matched by track id:
   * this leaves out mediasoup-client's bandwidth probator and streams of closed consumers).
   */
  async inboundStats(): Promise<InboundStat[]> {
    return [...(await this.sampleRecv())?.inbound ?? []];
  }

  /** The send transport's outbound streams of one kind (what this browser uploads; video: per encoding). */
  async outboundStats(kind: 'audio' | 'video' = 'video'): Promise<OutboundStat[]> {
    const send = this.#send;
    return send && !send.closed ? parseOutbound(await send.getStats(), kind) : [];
  }

  /** The candidate pair each open transport uses now (none before its ICE has connected). */
  async icePaths(): Promise<IcePath[]> {
    const out: IcePath[] = [];
    for (const [direction, t] of [['send', this.#send], ['recv', this.#recv]] as const) {
      if (!t || t.closed) continue;
      const path = selectedPath(await t.getStats(), direction);
      if (path) out.push(path);
    }
    return out;
  }

  /** Closes consumers (telling listeners their tracks ended), producers and transports. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#consumers.keys()]) this.closeConsumer(id);
    this.#queued = [];
    for (const p of this.#producers.values()) p.close();
    this.#producers.clear();
    this.#layersWanted.clear();
    this.#send?.close();
    this.#recv?.close();
    this.#send = undefined;
    this.#recv = undefined;
  }

  #createTransport(info: TransportInfo, direction: 'send' | 'recv'): Transport {
    if (!this.#loaded) throw new Error('MediaLink.load() first');
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      iceServers: this.#iceServers,
      iceTransportPolicy: this.#iceTransportPolicy,
      additionalSettings: this.#transforms?.peerConnectionSettings(),
    };
    const t = direction === 'send' ? this.#device.createSendTransport(options) : this.#device.createRecvTransport(options);
    for (const c of info.iceCandidates) this.#endpoints.add(`${c.protocol.toUpperCase()} ${c.address ?? c.ip}:${c.port}`);
    t.on('connect', ({ dtlsParameters }, ok, fail) => {
      this.#sig.request('connectTransport', { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    let disconnectTimer: ReturnType<typeof setTimeout> | undefined;
    t.on('connectionstatechange', (state) => {
      this.events.emit('transportState', direction, state);
      clearTimeout(disconnectTimer);
      if (state === 'failed') void this.#restartIce(t);
      // 'disconnected' often heals by itself (a brief network change); restart ICE if it lasts.
      if (state === 'disconnected') disconnectTimer = setTimeout(() => void this.#restartIce(t), 3000);
    });
    return t;
  }

  async #restartIce(t: Transport, evenIfConnected = false): Promise<void> {
    if (this.#closed || t.closed || !this.#sig.connected || (t.connectionState === 'connected' && !evenIfConnected)) return;
    try {
      const { iceParameters, iceServers } = await this.#sig.request('restartIce', { transportId: t.id });
      if (t.closed) return;
      // A fresh TURN credential: the restart makes new allocations, refused once the join's expired.
      if (iceServers) {
        this.#iceServers = iceServers;
        await t.updateIceServers({ iceServers });
      }
      await t.restartIce({ iceParameters });
    } catch (err) {
      console.warn('ICE restart failed', err);
    }
  }

  async #consume(recv: Transport, n: NewConsumer): Promise<void> {
    const entry: ConsumerEntry = { participantId: n.participantId, source: n.source, consumer: undefined, closed: false, paused: n.producerPaused, hidden: false };
    this.#consumers.set(n.consumerId, entry);
    try {
      const consumer = await recv.consume({
        id: n.consumerId,
        producerId: n.producerId,
        kind: n.kind,
        rtpParameters: n.rtpParameters as RtpParameters,
        appData: { participantId: n.participantId, source: n.source },
        // Under E2EE: received frames go through the worker (decrypted with the sender's key) before the decoder.
        ...(this.#transforms ? { onRtpReceiver: (receiver: RTCRtpReceiver) => this.#transforms!.attachReceiver(receiver, n.kind, n.participantId) } : {}),
      });
      if (this.#closed || entry.closed) {
        consumer.close();
        return;
      }
      entry.consumer = consumer;
      mark(`consumed-${n.kind}`);
      this.events.emit('trackAdded', {
        participantId: n.participantId,
        consumerId: n.consumerId,
        source: n.source,
        track: consumer.track,
        paused: n.producerPaused,
      });
      await this.#sig.request('resumeConsumer', { consumerId: n.consumerId });
    } catch (err) {
      if (this.#closed || entry.closed) return;
      console.warn('consume failed', err);
      this.closeConsumer(n.consumerId);
      this.events.emit('notice', () => t('notice.receiveFailed', { source: tDynamic(`notice.source.${n.source}`, {}, n.source), code: codeOf(err) }));
    }
  }
}
