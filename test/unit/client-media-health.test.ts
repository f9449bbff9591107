import { describe, expect, it } from 'vitest';
import { InboundWatch } from '../../src/client/media-health.ts';
import { QualityMeter } from '../../src/client/quality.ts';
import type { ConsumerRef, InboundStat, RecvSample } from '../../src/client/media-sample.ts';

const audio: ConsumerRef = { consumerId: 'ca', participantId: 'p1', source: 'mic', kind: 'audio', expected: true };
const video: ConsumerRef = { consumerId: 'cv', participantId: 'p1', source: 'camera', kind: 'video', expected: true };

function stat(c: ConsumerRef, packets: number, extra: Partial<InboundStat> = {}): InboundStat {
  return { id: `in-${c.consumerId}`, consumerId: c.consumerId, participantId: c.participantId, source: c.source, kind: c.kind, packetsReceived: packets, bytesReceived: packets * 100, packetsLost: 0, ...extra };
}

function sample(at: number, consumers: ConsumerRef[], inbound: InboundStat[], extra: Partial<RecvSample> = {}): RecvSample {
  return { at, state: 'connected', consumers, inbound, rtt: 0.02, ...extra };
}

describe('the client\'s "no media arriving" check (InboundWatch)', () => {
  it('is stalled once no stream that should arrive got a byte for the whole window', () => {
    const w = new InboundWatch();
    expect(w.update(sample(0, [audio, video], []), 6000)).toBe(false);
    expect(w.update(sample(4000, [audio, video], []), 6000)).toBe(false);
    expect(w.update(sample(6000, [audio, video], []), 6000)).toBe(true);
  });

  it('is not stalled while any one stream grows (a stopped camera is the sender\'s business)', () => {
    const w = new InboundWatch();
    w.update(sample(0, [audio, video], [stat(audio, 10), stat(video, 10)]), 6000);
    w.update(sample(4000, [audio, video], [stat(audio, 50), stat(video, 10)]), 6000);
    expect(w.update(sample(8000, [audio, video], [stat(audio, 90), stat(video, 10)]), 6000)).toBe(false);
  });

  it('never fires with nobody to receive, paused or hidden consumers, or a transport still connecting', () => {
    const w = new InboundWatch();
    for (const at of [0, 10_000, 20_000]) expect(w.update(sample(at, [], []), 6000)).toBe(false);
    const paused = { ...video, expected: false };
    for (const at of [30_000, 40_000, 50_000]) expect(w.update(sample(at, [paused], []), 6000)).toBe(false);
    for (const at of [60_000, 70_000, 80_000]) expect(w.update(sample(at, [audio], [], { state: 'connecting' }), 6000)).toBe(false);
  });

  it('times a consumer from when it should start arriving (resumed after a pause)', () => {
    const w = new InboundWatch();
    w.update(sample(0, [{ ...video, expected: false }], []), 6000);
    expect(w.update(sample(10_000, [video], []), 6000)).toBe(false);
    expect(w.update(sample(16_000, [video], []), 6000)).toBe(true);
  });
});

describe('the tiles\' connection quality (QualityMeter)', () => {
  it('rates from the second sample on: good, poor on loss or a low frame rate, lost without packets', () => {
    const m = new QualityMeter();
    expect(m.update(sample(0, [audio, video], [stat(audio, 100), stat(video, 100, { framesPerSecond: 30 })]))).toEqual([]);
    expect(m.update(sample(2000, [audio, video], [stat(audio, 200), stat(video, 300, { framesPerSecond: 30 })]))).toMatchObject([{ participantId: 'p1', quality: 'good' }]);
    expect(m.update(sample(4000, [audio, video], [stat(audio, 300), stat(video, 500, { packetsLost: 40, framesPerSecond: 30 })]))).toMatchObject([{ quality: 'poor' }]);
    expect(m.update(sample(6000, [audio, video], [stat(audio, 400, { packetsLost: 40 }), stat(video, 700, { packetsLost: 40, framesPerSecond: 4 })]))).toMatchObject([{ quality: 'poor' }]);
    expect(m.update(sample(8000, [audio, video], [stat(audio, 400, { packetsLost: 40 }), stat(video, 700, { packetsLost: 40, framesPerSecond: 0 })]))).toMatchObject([{ quality: 'lost' }]);
  });

  it('a screen share\'s few frames (and its freezes on a still screen) do not make the tile poor', () => {
    const m = new QualityMeter();
    const screen: ConsumerRef = { ...video, consumerId: 'cs', source: 'screen' };
    m.update(sample(0, [audio, video, screen], [stat(audio, 100), stat(video, 100, { framesPerSecond: 30 }), stat(screen, 100, { framesPerSecond: 2 })]));
    expect(m.update(sample(2000, [audio, video, screen], [stat(audio, 200), stat(video, 300, { framesPerSecond: 30 }), stat(screen, 120, { framesPerSecond: 2, freezeCount: 1 })])))
      .toMatchObject([{ quality: 'good', detail: expect.stringContaining('30 frames/s') }]);
    expect(m.update(sample(4000, [audio, video, screen], [stat(audio, 300), stat(video, 500, { framesPerSecond: 4 }), stat(screen, 140, { framesPerSecond: 2 })])))
      .toMatchObject([{ quality: 'poor' }]);
  });

  it('says poor on a long round trip, lost when the transport is down, nothing when nothing should arrive', () => {
    const m = new QualityMeter();
    m.update(sample(0, [audio], [stat(audio, 100)]));
    expect(m.update(sample(2000, [audio], [stat(audio, 200)], { rtt: 0.6 }))).toMatchObject([{ quality: 'poor', detail: expect.stringContaining('600 ms round trip') }]);
    expect(m.update(sample(4000, [audio], [stat(audio, 300)], { state: 'disconnected' }))).toMatchObject([{ quality: 'lost' }]);
    expect(m.update(sample(6000, [{ ...audio, expected: false }], [stat(audio, 300)]))).toEqual([]);
  });
});
