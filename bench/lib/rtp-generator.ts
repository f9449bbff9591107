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
 * A VP8 simulcast RTP generator for tests and benchmarks: one SSRC per spatial layer, a VP8
 * payload descriptor mediasoup parses (X bit, 15-bit picture id), a keyframe every `keyframeMs`
 * and on every PLI/FIR, and the layer index in the first payload byte after the VP8 header so a
 * sink can tell which layer it receives (a consumer rewrites SSRCs). RTCP sender reports go out
 * twice a second: mediasoup switches between simulcast streams only once it can map their
 * timestamps to wall-clock time.
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

  constructor(opts: { ssrcs: readonly number[]; payloadType: number }) {
    this.ssrcs = opts.ssrcs;
    this.#pt = opts.payloadType;
    this.#seq = opts.ssrcs.map(() => Math.floor(Math.random() * 10000));
    this.#sent = opts.ssrcs.map(() => 0);
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
        const key = periodicKey || this.#forceKey.delete(ssrc);
        const n = (packetsPerFrame[layer] ?? 1) * (key ? keyframeFactor : 1);
        for (let i = 0; i < n; i++) this.#send(layer, ssrc, ts, key && i === 0, i === n - 1);
      });
      if (now - this.#lastSr >= 500) {
        this.#lastSr = now;
        this.ssrcs.forEach((ssrc, layer) => this.#senderReport(ssrc, ts, this.#sent[layer]!));
      }
    }, Math.round(1000 / fps));
  }

  #send(layer: number, ssrc: number, ts: number, key: boolean, last: boolean): void {
    const seq = this.#seq[layer]!;
    this.#seq[layer] = (seq + 1) & 0xffff;
    const pkt = Buffer.alloc(12 + 4 + 1 + 1 + 12 + (this.#camera.payloadBytes[layer] ?? 100));
    pkt[0] = 0x80;
    pkt[1] = (last ? 0x80 : 0) | this.#pt; // marker on the frame's last packet
    pkt.writeUInt16BE(seq, 2);
    pkt.writeUInt32BE(ts, 4);
    pkt.writeUInt32BE(ssrc, 8);
    pkt[12] = 0x90; // X=1, S=1 (each packet starts a partition: mediasoup reads keyframes from it), partition 0
    pkt[13] = 0x80; // I: picture id present
    pkt.writeUInt16BE(0x8000 | this.#pictureId, 14);
    pkt[16] = key ? 0x00 : 0x01; // VP8 payload header: P bit 0 = keyframe
    pkt[17] = layer;
    // Send time for latency, behind a marker: the SFU may rewrite the VP8 descriptor's length.
    pkt.write(SEND_TIME_MARK, 18, 'latin1');
    pkt.writeDoubleBE(performance.timeOrigin + performance.now(), 22);
    this.#sent[layer]!++;
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

/** A UDP sink counting RTP packets by the layer byte the generator wrote. */
export class LayerSink {
  readonly socket = createSocket('udp4');
  readonly received: { layer: number; at: number }[] = [];

  async bind(): Promise<number> {
    this.socket.on('message', (msg) => {
      if (msg.length < 18 || (msg[1]! & 0x7f) >= 72 && (msg[1]! & 0x7f) <= 79) return; // skip RTCP
      const csrcs = msg[0]! & 0x0f;
      let off = 12 + csrcs * 4;
      if (msg[0]! & 0x10) off += 4 + msg.readUInt16BE(off + 2) * 4; // header extension
      this.received.push({ layer: msg[off + 5]!, at: Date.now() });
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

  close(): void {
    this.socket.close();
  }
}
