/**
 * What the E2EE worker does to each frame (e2ee-worker.ts wires it to the browser's transforms):
 * our frames encrypted under our current sender key, others' frames decrypted with their key
 * for the frame's epoch (e2ee-keyring.ts), failures counted and the frame dropped: a frame that
 * does not authenticate is never handed to the decoder. Pure apart from WebCrypto and the clock.
 */
import { clearHeaderBytes, decryptFrame, encryptFrame, importFrameKey, makeSenderKey, readTrailer, type FrameKind, type Key, type SenderKey } from './e2ee-frame.ts';
import { Keyring } from './e2ee-keyring.ts';

export interface FrameCryptoStats {
  encrypted: number;
  decrypted: number;
  /** Frames dropped: no key for the sender and epoch, did not authenticate, not in our format. */
  dropped: { noKey: number; authFailed: number; malformed: number };
  /** Milliseconds spent in encryption / decryption (the crypto call and the copies), summed. */
  encryptMs: number;
  decryptMs: number;
  /** Bytes of frames encrypted / decrypted (before encryption). */
  encryptedBytes: number;
  decryptedBytes: number;
  /** Our sender key's epoch (undefined before one is set) and when each epoch first encrypted a frame (Date.now()). */
  senderEpoch: number | undefined;
  epochFirstUsed: Record<number, number>;
  /** Per sender: the newest epoch a frame of theirs decrypted with, and when (Date.now()). */
  receiving: Record<string, { epoch: number; at: number }>;
  /**
   * Debug mode only (test-only): frames of a new epoch tried with the keys it replaced, ours and
   * others'. `oldKeyDecrypted` must stay 0: a key that left cannot read what follows.
   */
  oldKeyTried: number;
  oldKeyDecrypted: number;
}

/** How many frames of each new epoch the debug mode tries with the replaced keys. */
const DEBUG_TRIES_PER_EPOCH = 20;

export class FrameCrypto {
  #sender: SenderKey | undefined;
  /** Debug mode: our previous sender keys (newest last). */
  readonly #oldSenderKeys: SenderKey[] = [];
  readonly #ring: Keyring<Key>;
  readonly #debug: boolean;
  readonly #now: () => number;
  readonly #tried = new Map<string, number>();
  readonly stats: FrameCryptoStats = {
    encrypted: 0, decrypted: 0, dropped: { noKey: 0, authFailed: 0, malformed: 0 },
    encryptMs: 0, decryptMs: 0, encryptedBytes: 0, decryptedBytes: 0,
    senderEpoch: undefined, epochFirstUsed: {}, receiving: {}, oldKeyTried: 0, oldKeyDecrypted: 0,
  };

  constructor(opts: { debug?: boolean; now?: () => number; overlapMs?: number } = {}) {
    this.#debug = opts.debug ?? false;
    this.#now = opts.now ?? Date.now;
    this.#ring = new Keyring({ keepRetired: this.#debug, ...(opts.overlapMs === undefined ? {} : { overlapMs: opts.overlapMs }) });
  }

  /** Our new sender key: every frame from now on is encrypted with it. */
  async setSenderKey(raw: Uint8Array, epoch: number): Promise<void> {
    const next = await makeSenderKey(raw, epoch);
    if (this.#sender && this.#debug) this.#oldSenderKeys.push(this.#sender);
    while (this.#oldSenderKeys.length > 4) this.#oldSenderKeys.shift();
    this.#sender = next;
    this.stats.senderEpoch = epoch;
  }

  async setReceiverKey(from: string, raw: Uint8Array, epoch: number): Promise<void> {
    this.#ring.add(from, epoch, await importFrameKey(raw), this.#now());
  }

  forget(from: string): void {
    this.#ring.forget(from);
    delete this.stats.receiving[from];
  }

  /** Our frame, encrypted; undefined (drop) while we have no sender key yet. */
  async encrypt(data: Uint8Array, kind: FrameKind, codec: string, keyFrame: boolean): Promise<Uint8Array | undefined> {
    const sk = this.#sender;
    if (!sk) return undefined;
    const started = performance.now();
    const out = await encryptFrame(data, clearHeaderBytes(kind, codec, keyFrame, data.length), sk);
    this.stats.encryptMs += performance.now() - started;
    this.stats.encrypted++;
    this.stats.encryptedBytes += data.length;
    this.stats.epochFirstUsed[sk.epoch] ??= this.#now();
    if (this.#debug) await this.#tryOld(`send:${sk.epoch}`, out, this.#oldSenderKeys.filter((k) => k.epoch < sk.epoch).map((k) => k.key));
    return out;
  }

  /** A frame from `from`, decrypted; undefined (drop, counted) when it cannot be. */
  async decrypt(from: string, data: Uint8Array): Promise<Uint8Array | undefined> {
    const trailer = readTrailer(data);
    if (!trailer) {
      this.stats.dropped.malformed++;
      return undefined;
    }
    const now = this.#now();
    const entry = this.#ring.lookup(from, trailer.epochByte, now);
    if (!entry) {
      this.stats.dropped.noKey++;
      return undefined;
    }
    const started = performance.now();
    const plain = await decryptFrame(data, entry.key, trailer);
    this.stats.decryptMs += performance.now() - started;
    if (!plain) {
      this.stats.dropped.authFailed++;
      return undefined;
    }
    this.stats.decrypted++;
    this.stats.decryptedBytes += plain.length;
    this.#ring.decrypted(from, entry.epoch);
    const seen = this.stats.receiving[from];
    if (!seen || seen.epoch !== entry.epoch) this.stats.receiving[from] = { epoch: entry.epoch, at: now };
    if (this.#debug) await this.#tryOld(`recv:${from}:${entry.epoch}`, data, this.#ring.retired(from).filter((k) => k.epoch < entry.epoch).map((k) => k.key));
    return plain;
  }

  /** Debug mode: a frame of a newer epoch tried with the keys it replaced (each must fail). */
  async #tryOld(slot: string, sealed: Uint8Array, oldKeys: Key[]): Promise<void> {
    if (oldKeys.length === 0) return;
    const n = this.#tried.get(slot) ?? 0;
    if (n >= DEBUG_TRIES_PER_EPOCH) return;
    this.#tried.set(slot, n + 1);
    for (const key of oldKeys) {
      this.stats.oldKeyTried++;
      if (await decryptFrame(sealed, key)) this.stats.oldKeyDecrypted++;
    }
  }
}

/**
 * The cost of the frame crypto alone (the bench, `window.sfuClient.e2eeMeasure()`): `n` frames of
 * `bytes` random bytes encrypted, then decrypted, one after another with a throwaway key (never the
 * session's), timed in 25 batches (a page's clock is coarse: 0.1 ms in a worker that is not
 * cross-origin isolated); the median and 90th percentile of the batches' mean per frame, in
 * microseconds. The median leaves out batches during which the thread was not running (a busy
 * machine), so it is close to the CPU cost.
 */
export async function measureFrameCrypto(n: number, bytes: number): Promise<{ n: number; bytes: number; encryptUs: { median: number; p90: number }; decryptUs: { median: number; p90: number } }> {
  const sk = await makeSenderKey(crypto.getRandomValues(new Uint8Array(16)), 0);
  const frame = crypto.getRandomValues(new Uint8Array(Math.max(1, Math.min(bytes, 65536))));
  const clear = clearHeaderBytes('video', 'video/VP8', false, frame.length);
  const batches = 25;
  const perBatch = Math.max(1, Math.round(n / batches));
  const enc: number[] = [];
  const dec: number[] = [];
  for (let b = 0; b < batches; b++) {
    const sealed: Uint8Array[] = [];
    let t = performance.now();
    for (let i = 0; i < perBatch; i++) sealed.push(await encryptFrame(frame, clear, sk));
    enc.push((performance.now() - t) / perBatch);
    t = performance.now();
    for (const f of sealed) await decryptFrame(f, sk.key);
    dec.push((performance.now() - t) / perBatch);
  }
  const pick = (xs: number[], q: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]! * 1000 * 10) / 10;
  return { n: batches * perBatch, bytes: frame.length, encryptUs: { median: pick(enc, 0.5), p90: pick(enc, 0.9) }, decryptUs: { median: pick(dec, 0.5), p90: pick(dec, 0.9) } };
}
