import mediasoup from 'mediasoup';
import type { types } from 'mediasoup';

/**
 * A server-side tap for tests (issue #16): watches every mediasoup router and producer made in
 * this process (the TestServer runs in it), and attaches a DirectTransport consumer to one
 * producer, so a test sees the RTP the SFU forwards, as the SFU sees it (after SRTP). Test-only:
 * no production endpoint. Create it before the server starts (it listens to mediasoup's observer).
 */
export class RouterWatch {
  readonly #producers = new Map<string, { router: types.Router; producer: types.Producer }>();
  readonly #consumers = new Set<types.Consumer>();

  constructor() {
    mediasoup.observer.on('newworker', (worker) => {
      worker.observer.on('newrouter', (router) => {
        router.observer.on('newtransport', (transport) => {
          transport.observer.on('newproducer', (producer) => {
            this.#producers.set(producer.id, { router, producer });
            producer.observer.once('close', () => this.#producers.delete(producer.id));
          });
          transport.observer.on('newconsumer', (consumer) => {
            this.#consumers.add(consumer);
            consumer.observer.once('close', () => this.#consumers.delete(consumer));
          });
        });
      });
    });
  }

  producer(id: string): { router: types.Router; producer: types.Producer } | undefined {
    return this.#producers.get(id);
  }

  producers(): types.Producer[] {
    return [...this.#producers.values()].map((p) => p.producer);
  }

  /** The live consumers (the pages' and any tap's). */
  consumers(): types.Consumer[] {
    return [...this.#consumers];
  }

  /** A DirectTransport consumer of `producerId` (its best layer) collecting VP8 frames as they arrive. */
  async tap(producerId: string): Promise<Vp8Tap> {
    const found = this.#producers.get(producerId);
    if (!found) throw new Error(`no producer ${producerId}`);
    const transport = await found.router.createDirectTransport();
    const consumer = await transport.consume({ producerId, rtpCapabilities: found.router.rtpCapabilities, paused: false });
    const tap = new Vp8Tap(transport, consumer);
    await consumer.requestKeyFrame().catch(() => undefined);
    return tap;
  }
}

/** One VP8 frame put together from RTP packets (the payload descriptors removed). */
export interface Vp8Frame {
  readonly timestamp: number;
  readonly keyFrame: boolean;
  readonly data: Buffer;
}

interface Packet { seq: number; marker: boolean; start: boolean; payload: Buffer }

/** Reassembles VP8 frames (RFC 7741) from a DirectTransport consumer's RTP. */
export class Vp8Tap {
  readonly frames: Vp8Frame[] = [];
  readonly #transport: types.DirectTransport;
  readonly #consumer: types.Consumer;
  readonly #pending = new Map<number, Packet[]>();

  constructor(transport: types.DirectTransport, consumer: types.Consumer) {
    this.#transport = transport;
    this.#consumer = consumer;
    consumer.on('rtp', (packet: Buffer) => this.#onRtp(packet));
  }

  /** Asks the producer for a key frame (through the SFU, as a viewer's PLI would). */
  requestKeyFrame(): Promise<void> {
    return this.#consumer.requestKeyFrame();
  }

  close(): void {
    this.#transport.close();
  }

  #onRtp(buf: Buffer): void {
    if (buf.length < 12 || buf[0]! >> 6 !== 2) return;
    const padding = (buf[0]! & 0x20) !== 0;
    const cc = buf[0]! & 0x0f;
    const ext = (buf[0]! & 0x10) !== 0;
    const marker = (buf[1]! & 0x80) !== 0;
    const seq = buf.readUInt16BE(2);
    const timestamp = buf.readUInt32BE(4);
    let at = 12 + 4 * cc;
    if (ext) at += 4 + 4 * buf.readUInt16BE(at + 2);
    let end = buf.length;
    if (padding) end -= buf[buf.length - 1]!;
    if (at >= end) return; // padding-only probe
    // VP8 payload descriptor.
    const b0 = buf[at]!;
    const start = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
    at++;
    if (b0 & 0x80) {
      const x = buf[at++]!;
      if (x & 0x80) at += (buf[at]! & 0x80) ? 2 : 1;
      if (x & 0x40) at++;
      if (x & 0x30) at++;
    }
    const list = this.#pending.get(timestamp) ?? [];
    list.push({ seq, marker, start, payload: Buffer.from(buf.subarray(at, end)) });
    this.#pending.set(timestamp, list);
    if (marker) this.#complete(timestamp, list);
  }

  #complete(timestamp: number, list: Packet[]): void {
    this.#pending.delete(timestamp);
    // By sequence number, across its wrap (the difference as a signed 16-bit number).
    list.sort((a, b) => ((a.seq - b.seq) << 16) >> 16);
    const contiguous = list.every((p, i) => i === 0 || ((p.seq - list[i - 1]!.seq) & 0xffff) === 1);
    if (!list[0]?.start || !contiguous) return;
    const data = Buffer.concat(list.map((p) => p.payload));
    this.frames.push({ timestamp, keyFrame: (data[0]! & 0x01) === 0, data });
    // Old incomplete frames are not kept.
    if (this.#pending.size > 50) this.#pending.clear();
  }
}

/** The frames as an IVF file (what ffmpeg reads for raw VP8). */
export function ivf(frames: readonly Vp8Frame[], width: number, height: number): Buffer {
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'ascii');
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8, 'ascii');
  header.writeUInt16LE(width, 12);
  header.writeUInt16LE(height, 14);
  header.writeUInt32LE(90000, 16);
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const parts: Buffer[] = [header];
  const t0 = frames[0]?.timestamp ?? 0;
  for (const f of frames) {
    const fh = Buffer.alloc(12);
    fh.writeUInt32LE(f.data.length, 0);
    fh.writeBigUInt64LE(BigInt((f.timestamp - t0) >>> 0), 4);
    parts.push(fh, f.data);
  }
  return Buffer.concat(parts);
}
