import { Device } from 'mediasoup-client';
import type { Consumer, Producer, RtpParameters, Transport } from 'mediasoup-client/types';
import { Emitter } from './emitter.ts';
import { SignallingClient, SignallingError } from './signalling.ts';
import type { JoinResult, Notifications, ParticipantInfo, Role, Source, TransportInfo } from './protocol.ts';
import { captureLocalMedia } from './media.ts';

export type SessionState = 'idle' | 'joining' | 'joined' | 'reconnecting' | `error:${string}`;

export interface RemoteParticipant {
  readonly participantId: string;
  readonly role: Role;
}

export interface RemoteTrack {
  readonly participantId: string;
  readonly consumerId: string;
  readonly source: Source;
  readonly track: MediaStreamTrack;
  readonly paused: boolean;
}

/** One inbound RTP stream of the recv transport, from getStats(). */
export interface InboundStat {
  /** The stats object's id: stable for one stream across calls. */
  id: string;
  consumerId: string;
  participantId: string;
  source: Source;
  kind: 'audio' | 'video';
  packetsReceived: number;
  bytesReceived: number;
  packetsLost?: number;
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
}

export type SessionEvents = {
  /** The state changed; `detail` says more for errors (a server message or close reason). */
  state: [SessionState, string | undefined];
  /** Something the person should know that does not end the session. */
  notice: [string];
  /** Our own camera/microphone stream (undefined once released). */
  localMedia: [MediaStream | undefined];
  participantJoined: [RemoteParticipant];
  participantLeft: [string];
  trackAdded: [RemoteTrack];
  trackRemoved: [{ participantId: string; consumerId: string }];
  trackPaused: [{ participantId: string; consumerId: string; paused: boolean }];
};

export interface JoinOptions {
  /** ws(s)://host/rtc?token=...[&room=...] */
  readonly url: string;
  readonly displayName?: string;
}

interface ConsumerEntry {
  readonly participantId: string;
  readonly source: Source;
  consumer: Consumer | undefined;
  closed: boolean;
}

/** Thrown inside an attempt that a newer one (or leave) replaced; never shown. */
class Superseded extends Error {}

/**
 * One person's presence in a room: signalling, the mediasoup-client Device, a send transport
 * producing microphone and camera, and a recv transport consuming everything the server offers.
 * Survives a signalling drop (resumes with its resume token; starts afresh if the server's grace
 * period ran out); ends with `leave()` or an error state carrying the server's code.
 */
export class Session {
  readonly events = new Emitter<SessionEvents>();
  #state: SessionState = 'idle';
  #opts: JoinOptions | undefined;
  #sig: SignallingClient | undefined;
  #device: Device | undefined;
  #joined: JoinResult | undefined;
  #send: Transport | undefined;
  #recv: Transport | undefined;
  readonly #producers = new Map<Source, Producer>();
  readonly #consumers = new Map<string, ConsumerEntry>();
  readonly #remotes = new Map<string, RemoteParticipant>();
  #queuedConsumers: Notifications['newConsumer'][] = [];
  #localStream: MediaStream | undefined;
  /** Bumped on every teardown: callbacks of an older attempt see a different number and stop. */
  #generation = 0;

  get state(): SessionState { return this.#state; }
  get participantId(): string | undefined { return this.#joined?.participantId; }
  get role(): Role | undefined { return this.#joined?.role; }
  get localStream(): MediaStream | undefined { return this.#localStream; }

  remoteParticipants(): RemoteParticipant[] {
    return [...this.#remotes.values()];
  }

  /** Whether we publish `source` and it is not paused (undefined when we do not publish it). */
  sourceEnabled(source: Source): boolean | undefined {
    const p = this.#producers.get(source);
    return p ? !p.paused : undefined;
  }

  async join(opts: JoinOptions): Promise<void> {
    if (this.#state === 'joining' || this.#state === 'joined' || this.#state === 'reconnecting') return;
    this.#opts = opts;
    mark('join');
    this.#setState('joining');
    try {
      await this.#start();
      this.#setState('joined');
    } catch (err) {
      if (!(err instanceof Superseded)) this.#fail(codeOf(err), messageOf(err));
    }
  }

  /** Leaves the room (tells the server, so the seat is free at once) and releases camera and mic. */
  async leave(): Promise<void> {
    if (this.#state === 'idle') return;
    const sig = this.#sig;
    if (sig?.connected) await sig.request('leave', {}, 3000).catch(() => undefined);
    this.#teardown(true);
    this.#setState('idle', 'left');
  }

  /** For page unload: sends leave without waiting for the answer. */
  leaveNow(): void {
    const sig = this.#sig;
    if (sig?.connected) sig.request('leave', {}, 1000).catch(() => undefined);
    this.#teardown(true);
  }

  /** Mutes or unmutes a published source (pauses its producer on both ends). */
  async setSourceEnabled(source: Source, enabled: boolean): Promise<void> {
    const producer = this.#producers.get(source);
    const sig = this.#sig;
    if (!producer || !sig) return;
    if (enabled) producer.resume();
    else producer.pause();
    await sig.request(enabled ? 'resumeProducer' : 'pauseProducer', { producerId: producer.id });
  }

  /**
   * The recv transport's inbound-rtp streams that belong to live consumers (matched by track id:
   * this leaves out mediasoup-client's bandwidth probator and streams of closed consumers).
   */
  async inboundStats(): Promise<InboundStat[]> {
    const recv = this.#recv;
    if (!recv || recv.closed) return [];
    const byTrack = new Map<string, { consumerId: string; entry: ConsumerEntry }>();
    for (const [consumerId, entry] of this.#consumers) {
      if (entry.consumer && !entry.consumer.closed) byTrack.set(entry.consumer.track.id, { consumerId, entry });
    }
    const report = await recv.getStats();
    const out: InboundStat[] = [];
    report.forEach((s: RTCStats) => {
      if (s.type !== 'inbound-rtp') return;
      const r = s as RTCInboundRtpStreamStats;
      const owner = r.trackIdentifier ? byTrack.get(r.trackIdentifier) : undefined;
      if (!owner) return;
      out.push({
        id: r.id,
        consumerId: owner.consumerId,
        participantId: owner.entry.participantId,
        source: owner.entry.source,
        kind: r.kind === 'audio' ? 'audio' : 'video',
        packetsReceived: r.packetsReceived ?? 0,
        bytesReceived: r.bytesReceived ?? 0,
        packetsLost: r.packetsLost,
        framesDecoded: r.framesDecoded,
        frameWidth: r.frameWidth,
        frameHeight: r.frameHeight,
      });
    });
    return out;
  }

  /** Milliseconds from the Join click to each step of the last join (performance marks sfu:*). */
  timings(): Record<string, number> {
    const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('sfu:'));
    const start = marks.findLast((m) => m.name === 'sfu:join')?.startTime;
    if (start === undefined) return {};
    const out: Record<string, number> = {};
    for (const m of marks) if (m.startTime >= start) out[m.name.slice(4)] ??= Math.round(m.startTime - start);
    return out;
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  async #start(): Promise<void> {
    const opts = this.#opts!;
    const gen = this.#generation;
    const sig = new SignallingClient({ url: opts.url });
    this.#sig = sig;
    this.#wireSignalling(sig, gen);
    await sig.connect();
    this.#check(gen);
    mark('connected');
    const joined = await sig.request('join', opts.displayName ? { displayName: opts.displayName } : {});
    this.#check(gen);
    mark('admitted');
    this.#joined = joined;
    for (const p of joined.participants) this.#addRemote(p);

    const sources = joined.permissions.publish.filter((s): s is 'mic' | 'camera' => s === 'mic' || s === 'camera');
    const media = this.#localMedia(sources, gen);
    const device = await Device.factory();
    await device.load({ routerRtpCapabilities: joined.routerRtpCapabilities });
    this.#check(gen);
    mark('device-loaded');
    this.#device = device;
    await Promise.all([
      joined.permissions.subscribe ? this.#openRecv(sig, device, joined, gen) : undefined,
      sources.length > 0 ? this.#publish(sig, device, joined, media, gen) : undefined,
    ]);
    this.#check(gen);
    mark('joined');
  }

  #wireSignalling(sig: SignallingClient, gen: number): void {
    const live = () => gen === this.#generation;
    sig.onNotification('participantJoined', (d) => live() && this.#addRemote({ ...d, producers: [] }));
    sig.onNotification('participantLeft', (d) => live() && this.#removeRemote(d.participantId));
    sig.onNotification('newConsumer', (d) => {
      if (!live()) return;
      if (this.#recv) void this.#consume(this.#recv, sig, d, gen);
      else this.#queuedConsumers.push(d);
    });
    sig.onNotification('consumerClosed', (d) => live() && this.#closeConsumer(d.consumerId));
    sig.onNotification('consumerPaused', (d) => live() && this.#consumerPaused(d.consumerId, true));
    sig.onNotification('consumerResumed', (d) => live() && this.#consumerPaused(d.consumerId, false));
    sig.onNotification('producerClosed', (d) => {
      if (!live() || d.participantId !== this.participantId) return;
      for (const [source, p] of this.#producers) {
        if (p.id !== d.producerId) continue;
        p.close();
        this.#producers.delete(source);
        this.events.emit('notice', `The server stopped your ${source === 'mic' ? 'microphone' : source}.`);
      }
    });
    sig.onNotification('serverDraining', (d) => live() && this.events.emit('notice',
      `The server is restarting for maintenance within ${d.deadlineSeconds} s; you may need to join again.`));
    sig.onNotification('roomClosed', (d) => live() && this.#fail('ROOM_CLOSED', d.reason));
    sig.onNotification('kicked', (d) => live() && this.#fail('KICKED', d.reason));
    sig.events.on('disconnected', () => live() && this.#state === 'joined' && this.#setState('reconnecting'));
    sig.events.on('reconnected', () => { if (live()) void this.#resume(sig, gen); });
    sig.events.on('closed', ({ errorCode, reason }) => {
      if (live() && this.#state !== 'idle' && !this.#state.startsWith('error:')) this.#fail(errorCode, reason);
    });
  }

  /** The socket is back: resume the participant, or start afresh when the grace period ran out. */
  async #resume(sig: SignallingClient, gen: number): Promise<void> {
    const resumeToken = this.#joined?.resumeToken;
    if (!resumeToken) return;
    try {
      const joined = await sig.request('join', { resumeToken });
      if (gen !== this.#generation) return;
      this.#joined = joined;
      const present = new Set(joined.participants.map((p) => p.participantId));
      for (const id of [...this.#remotes.keys()]) if (!present.has(id)) this.#removeRemote(id);
      for (const p of joined.participants) this.#addRemote(p);
      for (const t of [this.#send, this.#recv]) {
        if (t && !t.closed && t.connectionState !== 'connected') void this.#restartIce(sig, t, gen);
      }
      this.#setState('joined');
    } catch (err) {
      if (gen !== this.#generation) return;
      if (codeOf(err) !== 'RESUME_TOKEN_INVALID') {
        this.#fail(codeOf(err), messageOf(err));
        return;
      }
      this.events.emit('notice', 'The connection was down too long; joining the session again.');
      this.#teardown(false);
      this.#setState('joining');
      try {
        await this.#start();
        this.#setState('joined');
      } catch (err2) {
        if (!(err2 instanceof Superseded)) this.#fail(codeOf(err2), messageOf(err2));
      }
    }
  }

  #fail(code: string, detail?: string): void {
    this.#teardown(true);
    this.#setState(`error:${code}`, detail);
  }

  /** Closes everything of the current attempt; keeps the camera and mic when `keepLocal`. */
  #teardown(releaseLocal: boolean): void {
    this.#generation++;
    const sig = this.#sig;
    this.#sig = undefined;
    sig?.close();
    for (const id of [...this.#consumers.keys()]) this.#closeConsumer(id);
    this.#queuedConsumers = [];
    for (const p of this.#producers.values()) p.close();
    this.#producers.clear();
    this.#send?.close();
    this.#recv?.close();
    this.#send = undefined;
    this.#recv = undefined;
    for (const id of [...this.#remotes.keys()]) this.#removeRemote(id);
    this.#device = undefined;
    this.#joined = undefined;
    if (releaseLocal && this.#localStream) {
      for (const t of this.#localStream.getTracks()) t.stop();
      this.#localStream = undefined;
      this.events.emit('localMedia', undefined);
    }
  }

  #check(gen: number): void {
    if (gen !== this.#generation) throw new Superseded('superseded');
  }

  #setState(state: SessionState, detail?: string): void {
    this.#state = state;
    this.events.emit('state', state, detail);
  }

  // ---- participants --------------------------------------------------------------------------

  #addRemote(p: ParticipantInfo): void {
    if (p.participantId === this.participantId || this.#remotes.has(p.participantId)) return;
    const remote: RemoteParticipant = { participantId: p.participantId, role: p.role };
    this.#remotes.set(p.participantId, remote);
    this.events.emit('participantJoined', remote);
  }

  #removeRemote(participantId: string): void {
    for (const [id, c] of this.#consumers) if (c.participantId === participantId) this.#closeConsumer(id);
    if (this.#remotes.delete(participantId)) this.events.emit('participantLeft', participantId);
  }

  // ---- media ---------------------------------------------------------------------------------

  #localMedia(sources: ('mic' | 'camera')[], gen: number): Promise<MediaStream | undefined> {
    const current = this.#localStream;
    if (current && current.getTracks().every((t) => t.readyState === 'live')) return Promise.resolve(current);
    return captureLocalMedia(sources).then(({ stream, problem }) => {
      if (gen !== this.#generation && (this.#state === 'idle' || this.#state.startsWith('error:'))) {
        // The attempt ended (left, or failed) while the browser was asking: release at once.
        for (const t of stream?.getTracks() ?? []) t.stop();
        return undefined;
      }
      if (problem) this.events.emit('notice', problem);
      if (stream) {
        this.#localStream = stream;
        this.events.emit('localMedia', stream);
      }
      return stream;
    });
  }

  #createTransport(sig: SignallingClient, device: Device, joined: JoinResult, info: TransportInfo, direction: 'send' | 'recv', gen: number): Transport {
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      iceServers: joined.iceServers,
    };
    const t = direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    t.on('connect', ({ dtlsParameters }, ok, fail) => {
      sig.request('connectTransport', { transportId: t.id, dtlsParameters }).then(() => ok(), fail);
    });
    let disconnectTimer: ReturnType<typeof setTimeout> | undefined;
    t.on('connectionstatechange', (state) => {
      clearTimeout(disconnectTimer);
      if (state === 'failed') void this.#restartIce(sig, t, gen);
      // 'disconnected' often heals by itself (a brief network change); restart ICE if it lasts.
      if (state === 'disconnected') disconnectTimer = setTimeout(() => void this.#restartIce(sig, t, gen), 3000);
    });
    return t;
  }

  async #restartIce(sig: SignallingClient, t: Transport, gen: number): Promise<void> {
    if (gen !== this.#generation || t.closed || !sig.connected || t.connectionState === 'connected') return;
    try {
      const { iceParameters } = await sig.request('restartIce', { transportId: t.id });
      if (!t.closed) await t.restartIce({ iceParameters });
    } catch (err) {
      console.warn('ICE restart failed', err);
    }
  }

  async #openRecv(sig: SignallingClient, device: Device, joined: JoinResult, gen: number): Promise<void> {
    // The server sends newConsumer for what already exists before this response: they are queued.
    const info = await sig.request('createTransport', { direction: 'recv', rtpCapabilities: device.recvRtpCapabilities });
    this.#check(gen);
    const recv = this.#createTransport(sig, device, joined, info, 'recv', gen);
    this.#recv = recv;
    mark('recv-transport');
    recv.on('connectionstatechange', (state) => state === 'connected' && mark('recv-connected'));
    const queued = this.#queuedConsumers;
    this.#queuedConsumers = [];
    for (const n of queued) void this.#consume(recv, sig, n, gen);
  }

  async #publish(sig: SignallingClient, device: Device, joined: JoinResult, media: Promise<MediaStream | undefined>, gen: number): Promise<void> {
    const stream = await media;
    this.#check(gen);
    mark('media-captured');
    if (!stream) return;
    const info = await sig.request('createTransport', { direction: 'send' });
    this.#check(gen);
    const send = this.#createTransport(sig, device, joined, info, 'send', gen);
    this.#send = send;
    send.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
      const source = appData.source as Source;
      sig.request('produce', { transportId: send.id, kind, rtpParameters, source }).then(({ producerId }) => ok({ id: producerId }), fail);
    });
    const audio = stream.getAudioTracks()[0];
    const video = stream.getVideoTracks()[0];
    const problems: string[] = [];
    if (audio && device.canProduce('audio')) {
      try {
        this.#producers.set('mic', await send.produce({
          track: audio,
          stopTracks: false,
          codecOptions: { opusDtx: true, opusFec: true },
          appData: { source: 'mic' },
        }));
      } catch (err) {
        problems.push(`microphone (${codeOf(err)})`);
      }
    }
    this.#check(gen);
    if (video && device.canProduce('video')) {
      try {
        this.#producers.set('camera', await send.produce({
          track: video,
          stopTracks: false,
          // Three simulcast layers (the capture is 1280x720): the server picks one per viewer.
          encodings: [
            { scaleResolutionDownBy: 4, maxBitrate: 150_000 },
            { scaleResolutionDownBy: 2, maxBitrate: 500_000 },
            { scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
          ],
          codecOptions: { videoGoogleStartBitrate: 1000 },
          appData: { source: 'camera' },
        }));
      } catch (err) {
        problems.push(`camera (${codeOf(err)})`);
      }
    }
    this.#check(gen);
    mark('produced');
    if (problems.length > 0) this.events.emit('notice', `Could not send your ${problems.join(' and ')}.`);
  }

  async #consume(recv: Transport, sig: SignallingClient, n: Notifications['newConsumer'], gen: number): Promise<void> {
    const entry: ConsumerEntry = { participantId: n.participantId, source: n.source, consumer: undefined, closed: false };
    this.#consumers.set(n.consumerId, entry);
    try {
      const consumer = await recv.consume({
        id: n.consumerId,
        producerId: n.producerId,
        kind: n.kind,
        rtpParameters: n.rtpParameters as RtpParameters,
        appData: { participantId: n.participantId, source: n.source },
      });
      if (gen !== this.#generation || entry.closed) {
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
      await sig.request('resumeConsumer', { consumerId: n.consumerId });
    } catch (err) {
      if (gen !== this.#generation || entry.closed) return;
      console.warn('consume failed', err);
      this.#closeConsumer(n.consumerId);
      this.events.emit('notice', `Could not receive a participant's ${n.source} (${codeOf(err)}).`);
    }
  }

  #closeConsumer(consumerId: string): void {
    const entry = this.#consumers.get(consumerId);
    if (!entry) return;
    entry.closed = true;
    this.#consumers.delete(consumerId);
    if (entry.consumer) {
      entry.consumer.close();
      this.events.emit('trackRemoved', { participantId: entry.participantId, consumerId });
    }
  }

  #consumerPaused(consumerId: string, paused: boolean): void {
    const entry = this.#consumers.get(consumerId);
    if (entry?.consumer) this.events.emit('trackPaused', { participantId: entry.participantId, consumerId, paused });
  }
}

/** A performance mark (sfu:<name>), for the join timeline in timings(). */
export function mark(name: string): void {
  performance.mark(`sfu:${name}`);
}

/** A stable code for anything thrown: the server's code, or the client's own. */
export function codeOf(err: unknown): string {
  if (err instanceof SignallingError) return err.code;
  if (err instanceof Error && err.name === 'UnsupportedError') return 'UNSUPPORTED_BROWSER';
  if (err instanceof DOMException) return 'MEDIA_DEVICE_ERROR';
  return 'CLIENT_ERROR';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
