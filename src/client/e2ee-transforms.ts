/**
 * The page's side of frame encryption: the E2EE worker (dist/client/e2ee-worker.js), each
 * RTCRtpSender and RTCRtpReceiver put through it, and the keys handed to it. Two ways in:
 * `RTCRtpScriptTransform` (the standard; Firefox, Safari, Chromium 141+), else Chromium's
 * `createEncodedStreams` (the transport then needs `encodedInsertableStreams: true`, which
 * `peerConnectionSettings()` gives). Transforms are attached in mediasoup-client's onRtpSender /
 * onRtpReceiver callbacks, before negotiation: no frame of ours ever leaves unencrypted, and no
 * received frame reaches the decoder without passing the worker.
 */
import type { FrameCryptoStats } from './e2ee-frame-crypto.ts';
import type { FrameKind } from './e2ee-frame.ts';
import type { TransformOptions, WorkerReply, WorkerRequest } from './e2ee-worker.ts';

export type TransformApi = 'script-transform' | 'encoded-streams';

interface EncodedStreams { readable: ReadableStream; writable: WritableStream }
type WithEncodedStreams = { createEncodedStreams?: () => EncodedStreams };

/** Which encoded-transform API this browser has (undefined: it cannot do E2EE). */
export function transformApi(): TransformApi | undefined {
  if (typeof Worker === 'undefined' || typeof crypto?.subtle === 'undefined') return undefined;
  if (typeof RTCRtpScriptTransform !== 'undefined') return 'script-transform';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'encoded-streams';
  return undefined;
}

export const WORKER_URL = '/e2ee-worker.js';

export class FrameTransforms {
  readonly api: TransformApi;
  readonly #worker: Worker;
  #nextId = 0;
  /** Replies awaited, by request id. */
  readonly #waiting = new Map<number, (reply: WorkerReply) => void>();

  constructor(api: TransformApi, debug: boolean) {
    this.api = api;
    this.#worker = new Worker(WORKER_URL, { name: 'e2ee' });
    this.#worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
      const msg = ev.data;
      this.#waiting.get(msg.id)?.(msg);
      this.#waiting.delete(msg.id);
    };
    this.#post({ type: 'init', debug });
  }

  /** What RTCPeerConnection needs for this API (mediasoup-client's `additionalSettings`). */
  peerConnectionSettings(): Record<string, unknown> {
    return this.api === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
  }

  attachSender(sender: RTCRtpSender, kind: FrameKind, codec: string): void {
    this.#attach(sender, { direction: 'send', kind, codec });
  }

  attachReceiver(receiver: RTCRtpReceiver, kind: FrameKind, from: string): void {
    this.#attach(receiver, { direction: 'recv', kind, codec: '', from });
  }

  /** Our new sender key: resolves once the worker encrypts with it. */
  setSenderKey(raw: Uint8Array, epoch: number): Promise<void> {
    return this.#postKey({ type: 'senderKey', id: ++this.#nextId, raw, epoch });
  }

  setReceiverKey(from: string, raw: Uint8Array, epoch: number): Promise<void> {
    return this.#postKey({ type: 'receiverKey', id: ++this.#nextId, from, raw, epoch });
  }

  forget(from: string): void {
    this.#post({ type: 'forget', from });
  }

  stats(): Promise<FrameCryptoStats> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#waiting.set(id, (reply) => resolve((reply as Extract<WorkerReply, { type: 'stats' }>).stats));
      this.#post({ type: 'stats', id });
    });
  }

  /** The frame crypto's own cost in the worker (measureFrameCrypto): for the bench. */
  measure(n: number, bytes: number): Promise<Extract<WorkerReply, { type: 'measured' }>['result']> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#waiting.set(id, (reply) => resolve((reply as Extract<WorkerReply, { type: 'measured' }>).result));
      this.#post({ type: 'measure', id, n, bytes });
    });
  }

  close(): void {
    this.#worker.terminate();
  }

  #attach(target: RTCRtpSender | RTCRtpReceiver, options: TransformOptions): void {
    if (this.api === 'script-transform') {
      target.transform = new RTCRtpScriptTransform(this.#worker, options);
      return;
    }
    const { readable, writable } = (target as WithEncodedStreams).createEncodedStreams!();
    this.#worker.postMessage({ type: 'streams', readable, writable, options } satisfies WorkerRequest, [readable as unknown as Transferable, writable as unknown as Transferable]);
  }

  #postKey(msg: Extract<WorkerRequest, { type: 'senderKey' | 'receiverKey' }>): Promise<void> {
    // The worker answers once the key is imported and in use.
    const done = new Promise<void>((resolve) => this.#waiting.set(msg.id, () => resolve()));
    // A copy: the raw bytes stay with the page (to wrap for newcomers), the worker gets its own.
    this.#post({ ...msg, raw: msg.raw.slice() });
    return done;
  }

  #post(msg: WorkerRequest): void {
    this.#worker.postMessage(msg);
  }
}
