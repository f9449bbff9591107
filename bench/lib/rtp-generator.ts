import { createSocket, type Socket } from 'node:dgram';

/** Marks the 8-byte send time (a double, ms since the epoch) in generated payloads. */
export const SEND_TIME_MARK = '\u00a7ts\u00a7';

/** The send time a generated packet carries, or undefined. */
export function sendTimeOf(msg: Buffer): number | undefined {
  const at = msg.indexOf(SEND_TIME_MARK, 12, 'latin1');
  return at >= 0 && at + 12 <= msg.length && at < 48 ? msg.readDoubleBE(at + 4) : undefined;
}

/**
 * What a generated camera sends per simulcast layer at `fps` frames a second: `packetsPerFrame[layer]`
 * packets of `payloadBytes[layer]` bytes, and `keyframeFactor` times as many for a keyframe.
 */
export interface Camera {
  readonly fps: number;
  readonly packetsPerFrame: readonly number[];
  readonly payloadBytes: readonly number[];
  readonly keyframeFactor: number;
}

/** A small three-layer test pattern: one packet per frame and layer, no keyframe burst. */
const TEST_PATTERN: Camera = { fps: 30, packetsPerFrame: [1, 1, 1], payloadBytes: [100, 200, 300], keyframeFactor: 1 };

/** The same camera sending its top layer only (one SSRC). */
export const topLayerOf = (camera: Camera): Camera => ({
  ...camera, packetsPerFrame: camera.packetsPerFrame.slice(-1), payloadBytes: camera.payloadBytes.slice(-1),
});

/**
 * Temporal layer (TID) of each frame in a pattern restarting at every keyframe, as libwebrtc's VP8
 * encoder does for L1T2 / L1T3: with three layers, TID 0 is a quarter of the frames, TID 1 a quarter
 * and TID 2 half. `sync` marks the frames that reference only TID 0 (the VP8 descriptor's Y bit):
 * a forwarder may switch up to their layer there.
 */
const TEMPORAL_PATTERNS: Record<1 | 2 | 3, { tid: readonly number[]; sync: readonly boolean[] }> = {
  1: { tid: [0], sync: [false] },
  2: { tid: [0, 1], sync: [false, true] },
  3: { tid: [0, 2, 1, 2], sync: [false, true, true, false] },
};

/**
 * A VP8 simulcast RTP generator for tests and benchmarks: one SSRC per spatial layer, a VP8
 * payload descriptor mediasoup parses (X bit, 15-bit picture id), a keyframe every `keyframeMs`
 * and on every PLI/FIR, and the layer index in the first payload byte after the VP8 header so a
 * sink can tell which layer it receives (a consumer rewrites SSRCs). RTCP sender reports go out
 * twice a second: mediasoup switches between simulcast streams only once it can map their
 * timestamps to wall-clock time.
 *
 * With `temporalLayers` (declare the producer's encodings `L1T<n>` to match), every stream also
 * carries temporal layers as a browser's L1T3 does: the descriptor gets TL0PICIDX and TID (L and T
 * bits) in the pattern above. Without it the descriptor has no temporal fields (one layer, TID 0).
 */
export class Vp8SimulcastGenerator {
  readonly socket: Socket;
  readonly ssrcs: readonly number[];
  /** Keyframe requests received (PLI or FIR), by media SSRC. */
  readonly keyframeRequests: number[] = [];
  readonly #pt: number;
  #seq: number[];
  #pictureId = 0;
  #timer: NodeJS.Timeout | undefined;
  #forceKey = new Set<number>();
  #target: { port: number; address: string } | undefined;
  #lastKey = 0;
  #lastSr = 0;
  #camera: Camera = TEST_PATTERN;
  #sent: number[];
  readonly #temporal: (typeof TEMPORAL_PATTERNS)[1 | 2 | 3] | undefined;
  /** Per layer: frames since its last keyframe (position in the temporal pattern), and TL0PICIDX. */
  readonly #frameInPattern: number[];
  readonly #tl0PicIdx: number[];
  readonly #sentByTid: number[][];
  readonly #inactive = new Set<number>();

  constructor(opts: { ssrcs: readonly number[]; payloadType: number; temporalLayers?: 1 | 2 | 3 }) {
    this.ssrcs = opts.ssrcs;
    this.#pt = opts.payloadType;
    this.#seq = opts.ssrcs.map(() => Math.floor(Math.random() * 10000));
    this.#sent = opts.ssrcs.map(() => 0);
    this.#temporal = opts.temporalLayers === undefined ? undefined : TEMPORAL_PATTERNS[opts.temporalLayers];
    this.#frameInPattern = opts.ssrcs.map(() => 0);
    this.#tl0PicIdx = opts.ssrcs.map(() => Math.floor(Math.random() * 256));
    this.#sentByTid = opts.ssrcs.map(() => [0, 0, 0]);
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg) => this.#onRtcp(msg));
  }

  async bind(): Promise<void> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
  }

  /** Packets sent per layer (all of them, RTP only). */
  get sent(): readonly number[] {
    return this.#sent;
  }

  /** Packets sent per layer and temporal layer: `sentByTid[layer][tid]` (a copy). */
  get sentByTid(): number[][] {
    return this.#sentByTid.map((byTid) => [...byTid]);
  }

  /**
   * Stops or restarts sending one layer's stream (RTP and sender reports), as a browser does when
   * it drops a simulcast encoding under uplink congestion; a restarted stream begins with a keyframe.
   */
  setLayerActive(layer: number, active: boolean): void {
    if (active && this.#inactive.delete(layer)) this.#forceKey.add(this.ssrcs[layer]!);
    else if (!active) this.#inactive.add(layer);
  }

  /**
   * Sends the camera's frames on every layer to the producer transport, until stop(), with a keyframe
   * every `keyframeMs`. A frame's packets go back to back, marker on the last; a keyframe is
   * `keyframeFactor` times as many packets (the burst of a real encoder).
   */
  start(target: { port: number; address: string }, keyframeMs = 1000, camera: Camera = TEST_PATTERN): void {
    this.#camera = camera;
    this.#target = target;
    const { fps, packetsPerFrame, keyframeFactor } = camera;
    const timestampStep = Math.round(90000 / fps);
    let ts = 0;
    this.#timer = setInterval(() => {
      const now = Date.now();
      const periodicKey = now - this.#lastKey >= keyframeMs;
      if (periodicKey) this.#lastKey = now;
      this.#pictureId = (this.#pictureId + 1) & 0x7fff;
      ts = (ts + timestampStep) >>> 0;
      this.ssrcs.forEach((ssrc, layer) => {
        if (this.#inactive.has(layer)) return;
        const key = periodicKey || this.#forceKey.delete(ssrc);
        const n = (packetsPerFrame[layer] ?? 1) * (key ? keyframeFactor : 1);
        const t = this.#nextTemporal(layer, key);
        for (let i = 0; i < n; i++) this.#send(layer, ssrc, ts, key && i === 0, i === n - 1, t);
      });
      if (now - this.#lastSr >= 500) {
        this.#lastSr = now;
        this.ssrcs.forEach((ssrc, layer) => {
          if (!this.#inactive.has(layer)) this.#senderReport(ssrc, ts, this.#sent[layer]!);
        });
      }
    }, Math.round(1000 / fps));
  }

  /** The temporal layer fields of a layer's next frame (undefined without temporal layers). */
  #nextTemporal(layer: number, key: boolean): { tid: number; sync: boolean; tl0PicIdx: number } | undefined {
    const pattern = this.#temporal;
    if (!pattern) return undefined;
    if (key) this.#frameInPattern[layer] = 0; // an encoder restarts its pattern at a keyframe
    const at = this.#frameInPattern[layer]!++ % pattern.tid.length;
    const tid = pattern.tid[at]!;
    if (tid === 0) this.#tl0PicIdx[layer] = (this.#tl0PicIdx[layer]! + 1) & 0xff;
    return { tid, sync: pattern.sync[at]!, tl0PicIdx: this.#tl0PicIdx[layer]! };
  }

  #send(layer: number, ssrc: number, ts: number, key: boolean, last: boolean, t?: { tid: number; sync: boolean; tl0PicIdx: number }): void {
    const seq = this.#seq[layer]!;
    this.#seq[layer] = (seq + 1) & 0xffff;
    const descriptor = t ? 6 : 4;
    const pkt = Buffer.alloc(12 + descriptor + 1 + 1 + 12 + (this.#camera.payloadBytes[layer] ?? 100));
    pkt[0] = 0x80;
    pkt[1] = (last ? 0x80 : 0) | this.#pt; // marker on the frame's last packet
    pkt.writeUInt16BE(seq, 2);
    pkt.writeUInt32BE(ts, 4);
    pkt.writeUInt32BE(ssrc, 8);
    pkt[12] = 0x90; // X=1, S=1 (each packet starts a partition: mediasoup reads keyframes from it), partition 0
    pkt[13] = t ? 0xe0 : 0x80; // I: picture id present (+ L: TL0PICIDX, T: TID with temporal layers)
    pkt.writeUInt16BE(0x8000 | this.#pictureId, 14);
    if (t) {
      pkt[16] = t.tl0PicIdx;
      pkt[17] = (t.tid << 6) | (t.sync ? 0x20 : 0); // TID (2 bits), Y (layer sync), KEYIDX 0
    }
    const at = 12 + descriptor;
    pkt[at] = key ? 0x00 : 0x01; // VP8 payload header: P bit 0 = keyframe
    pkt[at + 1] = layer;
    // Send time for latency, behind a marker: the SFU may rewrite the VP8 descriptor's length.
    pkt.write(SEND_TIME_MARK, at + 2, 'latin1');
    pkt.writeDoubleBE(performance.timeOrigin + performance.now(), at + 6);
    this.#sent[layer]!++;
    this.#sentByTid[layer]![t?.tid ?? 0]!++;
    this.socket.send(pkt, this.#target!.port, this.#target!.address);
  }

  #senderReport(ssrc: number, rtpTimestamp: number, packets: number): void {
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    sr.writeUInt32BE(ssrc, 4);
    const ms = Date.now() + 2_208_988_800_000; // NTP epoch is 1900
    sr.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 8);
    sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, 12);
    sr.writeUInt32BE(rtpTimestamp, 16);
    sr.writeUInt32BE(packets, 20);
    sr.writeUInt32BE(packets * 100, 24);
    this.socket.send(sr, this.#target!.port, this.#target!.address);
  }

  #onRtcp(msg: Buffer): void {
    let off = 0;
    while (off + 4 <= msg.length) {
      const fmt = msg[off]! & 0x1f;
      const pt = msg[off + 1]!;
      const len = (msg.readUInt16BE(off + 2) + 1) * 4;
      if (pt === 206 && (fmt === 1 || fmt === 4) && off + 12 <= msg.length) {
        // PLI: media SSRC at +8; FIR: the FCI's SSRC at +12.
        const ssrc = fmt === 1 ? msg.readUInt32BE(off + 8) : msg.readUInt32BE(off + 12);
        this.keyframeRequests.push(ssrc);
        this.#forceKey.add(ssrc);
      }
      off += len;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.socket.close();
  }
}

/**
 * A UDP sink counting RTP packets by the layer byte the generator wrote, and by the VP8 temporal
 * layer (TID) of the descriptor when it has one (0 otherwise).
 */
export class LayerSink {
  readonly socket = createSocket('udp4');
  readonly received: { layer: number; tid: number; at: number }[] = [];

  async bind(): Promise<number> {
    this.socket.on('message', (msg) => {
      if (msg.length < 18 || (msg[1]! & 0x7f) >= 72 && (msg[1]! & 0x7f) <= 79) return; // skip RTCP
      const csrcs = msg[0]! & 0x0f;
      let off = 12 + csrcs * 4;
      if (msg[0]! & 0x10) off += 4 + msg.readUInt16BE(off + 2) * 4; // header extension
      // VP8 payload descriptor (RFC 7741 4.2): X, then I (7- or 15-bit picture id), L, T/K.
      let tid = 0;
      const x = msg[off++]! & 0x80 ? msg[off++]! : 0;
      if (x & 0x80) off += msg[off]! & 0x80 ? 2 : 1;
      if (x & 0x40) off += 1;
      if (x & 0x30) {
        if (x & 0x20) tid = msg[off]! >> 6;
        off += 1;
      }
      this.received.push({ layer: msg[off + 1]!, tid, at: Date.now() });
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    return (this.socket.address() as { port: number }).port;
  }

  /** Layers received since `since` (ms epoch). */
  layersSince(since: number): number[] {
    return [...new Set(this.received.filter((r) => r.at >= since).map((r) => r.layer))].sort();
  }

  countSince(since: number): number {
    return this.received.filter((r) => r.at >= since).length;
  }

  /** Packets received since `since` (ms epoch) per temporal layer: [TID 0, TID 1, TID 2]. */
  tidCountsSince(since: number): number[] {
    const counts = [0, 0, 0];
    for (const r of this.received) if (r.at >= since) counts[r.tid]!++;
    return counts;
  }

  close(): void {
    this.socket.close();
  }
}
