import type { types } from 'mediasoup';

export interface BitrateSample {
  /** Bits per second arriving at the node's WebRTC transports (what participants send). */
  readonly inBits: number;
  /** Bits per second leaving them (what the node forwards to subscribers). */
  readonly outBits: number;
}

const IN_FLIGHT = 16;

/** Sums the transports' current receive and send bitrates (mediasoup's transport stats). */
export async function sampleBitrates(transports: Iterable<types.WebRtcTransport>): Promise<BitrateSample> {
  let inBits = 0;
  let outBits = 0;
  const queue = [...transports];
  const next = async (): Promise<void> => {
    for (let t = queue.pop(); t; t = queue.pop()) {
      if (t.closed) continue;
      try {
        const [s] = await t.getStats();
        inBits += s?.recvBitrate ?? 0;
        outBits += s?.sendBitrate ?? 0;
      } catch { /* closed meanwhile */ }
    }
  };
  // A bounded number of requests in flight: the worker's control channel is shared with signalling.
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, queue.length) }, next));
  return { inBits, outBits };
}

/**
 * Samples every `seconds` (never two samples at once) and hands each sample to `onSample`.
 * Returns the stop function.
 */
export function startBitrateSampler(opts: { seconds: number; transports: () => Iterable<types.WebRtcTransport>; onSample: (s: BitrateSample) => void }): () => void {
  if (opts.seconds <= 0) return () => undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    sampleBitrates(opts.transports()).then(opts.onSample, () => undefined).finally(() => { busy = false; });
  }, opts.seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
