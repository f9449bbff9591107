import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types } from 'mediasoup';
import { WorkerPool } from '../../src/media/worker-pool.ts';
import { applyViewport } from '../../src/room/viewport.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { LayerSink, Vp8SimulcastGenerator } from '../../bench/lib/rtp-generator.ts';
import { observeFor, until } from '../helpers/until.ts';

const SSRCS = [11110000, 22220000, 33330000];
let pool: WorkerPool;
let router: types.Router;
let gen: Vp8SimulcastGenerator;
let sink: LayerSink;
let consumer: types.Consumer;

/** The sink has had no packet for `ms` (a forwarding consumer delivers one every frame, ~33 ms). */
const quietFor = (s: LayerSink, ms: number) => Date.now() - (s.received.at(-1)?.at ?? 0) >= ms;

/** The sink has received packets for at least `ms`, and those of the last `ms` are all below layer 2. */
function belowTopFor(s: LayerSink, ms: number): boolean {
  const from = Date.now() - ms;
  const recent = s.received.filter((r) => r.at >= from);
  return (s.received[0]?.at ?? Infinity) <= from && recent.length > 0 && recent.every((r) => r.layer < 2);
}

beforeAll(async () => {
  pool = await WorkerPool.create({ size: 1, logLevel: 'warn', listenIp: '127.0.0.1', announcedIp: undefined, basePort: 0 }, createLogger('silent'), new Metrics({ defaultMetrics: false }));
  ({ router } = await pool.createRouter());
  // Producer side: a PlainTransport fed by the generator (comedia: it learns the generator's address).
  const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  const vp8 = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!;
  const producer = await inbound.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: vp8.preferredPayloadType!, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
      encodings: SSRCS.map((ssrc) => ({ ssrc })),
    },
  });
  gen = new Vp8SimulcastGenerator({ ssrcs: SSRCS, payloadType: vp8.preferredPayloadType! });
  await gen.bind();
  gen.start({ address: '127.0.0.1', port: inbound.tuple.localPort }, 500);
  // Subscriber side: a PlainTransport to a UDP sink; bare VP8 capabilities (no bandwidth estimation),
  // so the forwarded layer follows the preference alone.
  sink = new LayerSink();
  const sinkPort = await sink.bind();
  const outbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
  await outbound.connect({ ip: '127.0.0.1', port: sinkPort });
  consumer = await outbound.consume({
    producerId: producer.id,
    rtpCapabilities: { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: vp8.preferredPayloadType!, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }], headerExtensions: [] },
  });
  expect(consumer.type).toBe('simulcast');
  // One temporal layer (no scalabilityMode declared, no TID in the generator's packets): the
  // consumer is L3T1, so the viewport's preferred temporal layer 0 is the top one and mediasoup's
  // temporal cap (>= 3.26) cannot show here. forwarding-temporal.test.ts covers L1T3 streams.
  expect(consumer.rtpParameters.encodings?.[0]?.scalabilityMode).toBe('L3T1');
});

afterAll(async () => {
  gen?.stop();
  sink?.close();
  await pool?.close();
});

describe('forwarding with real RTP (three simulcast layers through a real worker)', () => {
  it('forwards the layer the tile size needs, following viewport changes', async () => {
    // The switch settles once the target layer's keyframe arrives: wait until the last ten packets
    // are all of the target layer, then check that nothing else arrives for a while.
    const settledOn = (layer: number) => sink.received.length >= 10 && sink.received.slice(-10).every((r) => r.layer === layer);
    for (const [height, layer] of [[720, 2], [180, 0], [360, 1], [1080, 2]] as const) {
      await applyViewport(consumer, { width: Math.round(height * 16 / 9), height, visible: true });
      await until(() => settledOn(layer), `layer ${layer} for a ${height}p tile`, 5000);
      const since = Date.now();
      await observeFor(300); // deliberate: no other layer may arrive in this window
      expect({ height, layers: sink.layersSince(since) }).toEqual({ height, layers: [layer] });
    }
  });

  it('sends nothing for a hidden tile, and resumes with a keyframe request when it shows again', async () => {
    await applyViewport(consumer, { width: 640, height: 360, visible: false });
    // The worker has paused the consumer; packets already on the wire drain within a frame or two.
    await until(() => quietFor(sink, 100), 'the sink to go quiet after hiding the tile', 5000);
    const since = Date.now();
    await observeFor(500); // deliberate: a hidden tile gets nothing in this window
    expect(sink.countSince(since)).toBe(0);
    const requestsBefore = gen.keyframeRequests.length;
    const shown = Date.now();
    await applyViewport(consumer, { width: 640, height: 360, visible: true });
    await until(() => sink.countSince(shown) > 0, 'packets after showing the tile', 5000);
    await until(() => gen.keyframeRequests.length > requestsBefore, 'a keyframe request to the publisher', 5000);
    expect(gen.keyframeRequests.slice(requestsBefore)).toContain(SSRCS[1]);
    console.info(JSON.stringify({ measure: 'hidden-to-visible-first-packet-ms', value: sink.received.find((r) => r.at >= shown)!.at - shown }));
  });

  it('stays below a bandwidth cap whatever the tile size asks for', async () => {
    // A second subscriber whose capabilities include transport-wide congestion control, so
    // mediasoup distributes a (capped) outgoing bitrate across its consumers.
    const capSink = new LayerSink();
    const port = await capSink.bind();
    const out = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    await out.connect({ ip: '127.0.0.1', port });
    const vp8 = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!;
    const tcc = router.rtpCapabilities.headerExtensions!.find((h) => h.uri.includes('transport-wide-cc') && h.kind === 'video')!;
    const c = await out.consume({
      producerId: consumer.producerId,
      rtpCapabilities: {
        codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: vp8.preferredPayloadType!, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'transport-cc' }] }],
        headerExtensions: [tcc],
      },
    });
    try {
      await out.setMaxOutgoingBitrate(40_000); // room for the ~28 kbit/s low layer only
      await applyViewport(c, { width: 1280, height: 720, visible: true });
      // mediasoup first forwards what the tile asks for, then applies the cap at its next bitrate
      // allocation (about once a second): settled once a whole allocation round (1.2 s) of packets,
      // and at least one, were all below the top layer.
      await until(() => belowTopFor(capSink, 1200), 'forwarding below the top layer under the cap', 8000);
      const capped = Date.now();
      await observeFor(700); // deliberate: the top layer must not appear in this window
      const layers = capSink.layersSince(capped);
      console.info(JSON.stringify({ measure: 'layers-under-40kbps-cap', value: layers }));
      expect(layers.length).toBeGreaterThan(0);
      expect(Math.max(...layers)).toBeLessThan(2);
      // (Climbing back after the cap lifts needs the receiver's transport-cc feedback, which this
      // UDP sink does not send: the browser e2e covers the ramp-up.)
    } finally {
      capSink.close();
      out.close();
    }
  });
});
