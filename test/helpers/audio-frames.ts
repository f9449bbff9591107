import type { types } from 'mediasoup';

/**
 * The audio frame length (ms) a producer's sender uses, read from the RTP it actually sends: the
 * smallest RTP timestamp step between consecutive sequence numbers over `packets` packets (Opus,
 * 48 kHz clock; a DTX gap only makes a step larger). Uses the producer's `rtp` trace events.
 */
export async function audioFrameMs(producer: types.Producer, packets = 25, timeoutMs = 5000): Promise<number | undefined> {
  const seen: { seq: number; ts: number }[] = [];
  await producer.enableTraceEvent(['rtp']);
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const on = (t: types.ProducerTraceEventData) => {
        const dump = (t.info as { rtpPacket?: { sequenceNumber: number; timestamp: number } }).rtpPacket;
        if (t.type !== 'rtp' || !dump) return;
        seen.push({ seq: dump.sequenceNumber, ts: dump.timestamp });
        if (seen.length >= packets) { clearTimeout(timer); producer.off('trace', on); resolve(); }
      };
      producer.on('trace', on);
    });
  } finally {
    await producer.enableTraceEvent([]);
  }
  const steps = seen.slice(1).flatMap((p, i) => (p.seq === ((seen[i]!.seq + 1) & 0xffff) && p.ts > seen[i]!.ts ? [p.ts - seen[i]!.ts] : []));
  return steps.length ? Math.min(...steps) / 48 : undefined;
}
