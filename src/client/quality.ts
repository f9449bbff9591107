import type { InboundStat, RecvSample } from './media-sample.ts';
import { t } from './i18n/language.ts';

/** A tile's connection quality, as its label says it. */
export type Quality = 'good' | 'poor' | 'lost';

export interface TileQuality {
  readonly participantId: string;
  readonly quality: Quality;
  /** The figures behind it, in words ("2 % loss, 40 ms round trip, 30 frames/s"). */
  readonly detail: string;
}

/** Above any of these over one sampling interval a tile is 'poor'. */
export const POOR = {
  /** Lost packets / expected packets. */
  loss: 0.05,
  /** Seconds: the candidate pair's round trip. */
  rtt: 0.4,
  /** Seconds: audio jitter. */
  jitter: 0.05,
  /** Video frames per second below this (the cameras send 30; the lowest layer keeps the frame rate). */
  fps: 8,
} as const;

/**
 * Per participant, from two consecutive recv samples: 'lost' when none of their streams that
 * should be arriving got a packet over the interval (or the transport is not connected), 'poor'
 * on loss, round trip, audio jitter, a camera's low frame rate or freeze above the POOR figures,
 * 'good' otherwise. A participant with nothing that should arrive (camera and microphone off,
 * hidden tile and muted) gets no quality; nor a stream seen for the first time (no interval yet).
 */
export class QualityMeter {
  #previous = new Map<string, InboundStat>();
  #expected = new Set<string>();

  update(sample: RecvSample): TileQuality[] {
    const byConsumer = new Map(sample.inbound.map((s) => [s.consumerId, s]));
    const people = new Map<string, { now: InboundStat | undefined; before: InboundStat | undefined }[]>();
    for (const c of sample.consumers) {
      // A consumer counts from its second sample as expected: the first gives the baseline.
      if (!c.expected || !this.#expected.has(c.consumerId)) continue;
      const now = byConsumer.get(c.consumerId);
      const list = people.get(c.participantId) ?? [];
      list.push({ now, before: now ? this.#previous.get(now.id) : undefined });
      people.set(c.participantId, list);
    }
    this.#expected = new Set(sample.consumers.filter((c) => c.expected).map((c) => c.consumerId));
    this.#previous = new Map(sample.inbound.map((s) => [s.id, s]));
    return [...people].map(([participantId, streams]) => rate(participantId, streams, sample));
  }
}

function rate(participantId: string, streams: { now: InboundStat | undefined; before: InboundStat | undefined }[], sample: RecvSample): TileQuality {
  let received = 0;
  let lost = 0;
  let jitter = 0;
  let fps: number | undefined;
  let froze = false;
  for (const { now, before } of streams) {
    if (!now) continue;
    received += now.packetsReceived - (before?.packetsReceived ?? 0);
    lost += Math.max(0, (now.packetsLost ?? 0) - (before?.packetsLost ?? 0));
    if (now.kind === 'audio') jitter = Math.max(jitter, now.jitter ?? 0);
    // A screen share sends few frames by design (5-15 a second, fewer when the screen is still):
    // only cameras' frame rates and freezes say something about the connection.
    const camera = now.kind === 'video' && now.source !== 'screen';
    if (camera && now.framesPerSecond !== undefined) fps = Math.min(fps ?? Infinity, now.framesPerSecond);
    if (camera && (now.freezeCount ?? 0) > (before?.freezeCount ?? 0)) froze = true;
  }
  if (sample.state !== 'connected' || received <= 0) {
    return { participantId, quality: 'lost', detail: sample.state !== 'connected' ? t('qualityDetail.state', { state: sample.state }) : t('qualityDetail.none') };
  }
  const loss = lost / (lost + received);
  const rtt = sample.rtt;
  const detail = [
    t('qualityDetail.loss', { pct: Math.round(loss * 100) }),
    rtt !== undefined ? t('qualityDetail.rtt', { ms: Math.round(rtt * 1000) }) : '',
    fps !== undefined ? t('qualityDetail.fps', { fps: Math.round(fps) }) : '',
    froze ? t('qualityDetail.froze') : '',
  ].filter(Boolean).join(', ');
  const poor = loss > POOR.loss || (rtt ?? 0) > POOR.rtt || jitter > POOR.jitter || (fps !== undefined && fps < POOR.fps) || froze;
  return { participantId, quality: poor ? 'poor' : 'good', detail };
}
