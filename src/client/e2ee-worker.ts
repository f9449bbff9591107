/**
 * The page's E2EE worker (bundled alone as dist/client/e2ee-worker.js): every encoded audio and
 * video frame the page sends or receives passes through here (RTCRtpScriptTransform's
 * `rtctransform` event, or Chromium's createEncodedStreams streams posted by the page), and
 * FrameCrypto encrypts or decrypts it. Keys come from the page (e2ee-transforms.ts) as raw bytes
 * and are imported as non-extractable WebCrypto keys at once; nothing here logs a key.
 */
import { FrameCrypto, measureFrameCrypto } from './e2ee-frame-crypto.ts';
import type { FrameKind } from './e2ee-frame.ts';

/** What the page says about each transform: which way, what media, and whose frames it receives. */
export interface TransformOptions {
  readonly direction: 'send' | 'recv';
  readonly kind: FrameKind;
  /** The codec's MIME type (the sender's: which header bytes stay in clear). */
  readonly codec: string;
  /** recv: the participant who sent the frames (whose key decrypts them). */
  readonly from?: string;
}

/** Page -> worker. */
export type WorkerRequest =
  | { type: 'init'; debug: boolean }
  | { type: 'senderKey'; id: number; raw: Uint8Array; epoch: number }
  | { type: 'receiverKey'; id: number; from: string; raw: Uint8Array; epoch: number }
  | { type: 'forget'; from: string }
  | { type: 'stats'; id: number }
  | { type: 'measure'; id: number; n: number; bytes: number }
  | { type: 'streams'; readable: ReadableStream; writable: WritableStream; options: TransformOptions };

/** Worker -> page. */
export type WorkerReply =
  | { type: 'stats'; id: number; stats: FrameCrypto['stats'] }
  | { type: 'keySet'; id: number }
  | { type: 'measured'; id: number; result: Awaited<ReturnType<typeof measureFrameCrypto>> };

type EncodedFrame = RTCEncodedVideoFrame | RTCEncodedAudioFrame;

interface WorkerScope {
  onmessage: ((ev: MessageEvent<WorkerRequest>) => void) | null;
  onrtctransform: ((ev: { transformer: { readable: ReadableStream; writable: WritableStream; options: TransformOptions } }) => void) | null;
  postMessage(message: WorkerReply): void;
}
declare const self: WorkerScope;

let crypto_ = new FrameCrypto();

function pipe(readable: ReadableStream, writable: WritableStream, options: TransformOptions): void {
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) {
        controller.enqueue(frame);
        return;
      }
      const out = options.direction === 'send'
        ? await crypto_.encrypt(data, options.kind, options.codec, 'type' in frame && frame.type === 'key')
        : await crypto_.decrypt(options.from ?? '', data);
      if (!out) return; // dropped (counted): never sent in clear, never decoded garbled
      frame.data = out.buffer as ArrayBuffer;
      controller.enqueue(frame);
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => undefined);
}

self.onrtctransform = (ev) => {
  const t = ev.transformer;
  pipe(t.readable, t.writable, t.options);
};

self.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'init':
      crypto_ = new FrameCrypto({ debug: msg.debug });
      break;
    case 'senderKey':
      void crypto_.setSenderKey(msg.raw, msg.epoch).then(() => self.postMessage({ type: 'keySet', id: msg.id }));
      break;
    case 'receiverKey':
      void crypto_.setReceiverKey(msg.from, msg.raw, msg.epoch).then(() => self.postMessage({ type: 'keySet', id: msg.id }));
      break;
    case 'forget':
      crypto_.forget(msg.from);
      break;
    case 'stats':
      self.postMessage({ type: 'stats', id: msg.id, stats: structuredClone(crypto_.stats) });
      break;
    case 'measure':
      void measureFrameCrypto(Math.min(msg.n, 5000), msg.bytes).then((result) => self.postMessage({ type: 'measured', id: msg.id, result }));
      break;
    case 'streams':
      pipe(msg.readable, msg.writable, msg.options);
      break;
  }
};
