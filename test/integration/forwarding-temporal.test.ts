import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types } from 'mediasoup';
import { WorkerPool } from '../../src/media/worker-pool.ts';
import { applyViewport } from '../../src/room/viewport.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { LayerSink, Vp8SimulcastGenerator } from '../../bench/lib/rtp-generator.ts';
import { observeFor, until } from '../helpers/until.ts';

/**
 * Temporal layers through a real worker. A browser sends VP8 simulcast as three L1T3 streams
 * (mediasoup-client declares them so), and since mediasoup 3.26 a consumer never forwards a
 * temporal layer above its preferred one, whatever spatial layer it falls back to: the temporal
 * layer our server prefers decides the frame rate. The generator sends the pattern TID 0,2,1,2
 * (a quarter of the frames at TID 0, a quarter at TID 1, half at TID 2); the sink counts packets
 * per TID, and each window compares them with what the generator sent on that layer meanwhile.
 */

const SSRCS = [11120000, 22230000, 33340000];
const WINDOW_MS = 1000;
let pool: WorkerPool;
let router: types.Router;
let vp8PayloadType: number;
let gen: Vp8SimulcastGenerator;
let sink: LayerSink;
let producer: types.Producer;
let consumer: types.Consumer;

interface Window {
  layers: number[];
  /** Packets per TID the generator sent on the measured layer during the window. */
  sent: number[];
  /** Packets per TID the sink received during the window. */
  forwarded: number[];
}

/** Counts, over a deliberate observation window, what `layer` sent and what the sink got. */
async function measure(g: Vp8SimulcastGenerator, s: LayerSink, layer: number): Promise<Window> {
  const before = g.sentByTid[layer]!;
  const since = Date.now();
  await observeFor(WINDOW_MS); // deliberate: a rate is measured over this window
  const after = g.sentByTid[layer]!;
  return { layers: s.layersSince(since), sent: after.map((n, tid) => n - before[tid]!), forwarded: s.tidCountsSince(since) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Every packet of the layer, all three temporal layers (a packet may straddle a window edge). */
function expectFullRate(w: Window, layer: number, what: string): void {
  expect({ what, layers: w.layers }).toEqual({ what, layers: [layer] });
  for (const tid of [0, 1, 2]) {
    expect(w.forwarded[tid], `${what}: TID ${tid} packets`).toBeGreaterThan(0);
    expect(Math.abs(w.forwarded[tid]! - w.sent[tid]!), `${what}: TID ${tid} forwarded ${w.forwarded[tid]} of ${w.sent[tid]}`).toBeLessThanOrEqual(2);
  }
  expect(sum(w.forwarded) / sum(w.sent), `${what}: share of the layer's packets forwarded`).toBeGreaterThanOrEqual(0.85);
}

/** Only TIDs up to `top`: every packet of those, none above. */
function expectCappedAt(w: Window, layer: number, top: number, what: string): void {
  expect({ what, layers: w.layers }).toEqual({ what, layers: [layer] });
  for (const tid of [0, 1, 2]) {
    if (tid > top) expect(w.forwarded[tid], `${what}: TID ${tid} packets`).toBe(0);
    else expect(Math.abs(w.forwarded[tid]! - w.sent[tid]!), `${what}: TID ${tid} forwarded ${w.forwarded[tid]} of ${w.sent[tid]}`).toBeLessThanOrEqual(2);
  }
}

/** mediasoup has declared the stream of `layer` dead (score 0: 1.5 s without a packet) or alive again. */
const streamScore = (p: types.Producer, layer: number) => p.score.find((s) => s.ssrc === SSRCS[layer])?.score ?? 0;

const layersAre = (c: types.Consumer, spatialLayer: number, temporalLayer: number) =>
  c.currentLayers?.spatialLayer === spatialLayer && c.currentLayers.temporalLayer === temporalLayer;

/** The consumer reports the layers, and the sink's last packets are of that spatial layer. */
async function settle(c: types.Consumer, s: LayerSink, spatialLayer: number, temporalLayer: number, what: string, timeoutMs = 6000): Promise<void> {
  await until(
    () => layersAre(c, spatialLayer, temporalLayer) && s.received.length >= 4 && s.received.slice(-4).every((r) => r.layer === spatialLayer),
    `${what}: current layers ${spatialLayer}/${temporalLayer}`,
    timeoutMs,
  );
}

/** A producer of three VP8 simulcast streams fed by a generator over a comedia PlainTransport. */
async function simulcastProducer(scalabilityMode: string | undefined): Promise<{ producer: types.Producer; port: number }> {
  const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  const producer = await inbound.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: vp8PayloadType, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
      encodings: SSRCS.map((ssrc) => (scalabilityMode ? { ssrc, scalabilityMode } : { ssrc })),
    },
  });
  return { producer, port: inbound.tuple.localPort };
}

/** A consumer on a PlainTransport to a UDP sink; bare VP8 capabilities (no bandwidth estimation). */
async function sinkConsumer(producerId: string, s: LayerSink): Promise<types.Consumer> {
  const port = await s.bind();
  const outbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
  await outbound.connect({ ip: '127.0.0.1', port });
  return outbound.consume({
    producerId,
    rtpCapabilities: { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: vp8PayloadType, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }], headerExtensions: [] },
  });
}

beforeAll(async () => {
  pool = await WorkerPool.create({ size: 1, logLevel: 'warn', listenIp: '127.0.0.1', announcedIp: undefined, basePort: 0 }, createLogger('silent'), new Metrics({ defaultMetrics: false }));
  ({ router } = await pool.createRouter());
  vp8PayloadType = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!.preferredPayloadType!;
  // Declared as mediasoup-client declares a browser's simulcast: every encoding L1T3.
  let port: number;
  ({ producer, port } = await simulcastProducer('L1T3'));
  gen = new Vp8SimulcastGenerator({ ssrcs: SSRCS, payloadType: vp8PayloadType, temporalLayers: 3 });
  await gen.bind();
  gen.start({ address: '127.0.0.1', port }, 1000);
  sink = new LayerSink();
  consumer = await sinkConsumer(producer.id, sink);
  expect(consumer.type).toBe('simulcast');
});

afterAll(async () => {
  gen?.stop();
  sink?.close();
  await pool?.close();
});

describe('temporal layers with real RTP (three L1T3 simulcast streams through a real worker)', () => {
  it('describes the consumer as L3T3, so the viewport prefers temporal layer 2', () => {
    expect(consumer.rtpParameters.encodings?.[0]?.scalabilityMode).toBe('L3T3');
  });

  it('forwards every temporal layer (the full frame rate) of the layer each tile size picks', async () => {
    for (const [height, layer] of [[720, 2], [180, 0], [360, 1], [1080, 2]] as const) {
      await applyViewport(consumer, { width: Math.round(height * 16 / 9), height, visible: true });
      expect(consumer.preferredLayers).toEqual({ spatialLayer: layer, temporalLayer: 2 });
      await settle(consumer, sink, layer, 2, `${height}p tile`);
      const w = await measure(gen, sink, layer);
      console.info(JSON.stringify({ measure: 'temporal-full-rate', height, layer, sent: w.sent, forwarded: w.forwarded }));
      expectFullRate(w, layer, `${height}p tile`);
    }
  });

  it('caps the frame rate when a lower temporal layer is preferred (what temporalLayer 0 or 1 would do)', async () => {
    await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 0 });
    await settle(consumer, sink, 1, 0, 'preferred 1/0');
    const base = await measure(gen, sink, 1);
    console.info(JSON.stringify({ measure: 'temporal-cap', preferred: '1/0', sent: base.sent, forwarded: base.forwarded }));
    expectCappedAt(base, 1, 0, 'preferred 1/0');
    // A quarter of the frames: 7-8 fps of a 30 fps stream.
    expect(sum(base.forwarded) / sum(base.sent)).toBeLessThan(0.4);

    await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 1 });
    await settle(consumer, sink, 1, 1, 'preferred 1/1');
    const half = await measure(gen, sink, 1);
    console.info(JSON.stringify({ measure: 'temporal-cap', preferred: '1/1', sent: half.sent, forwarded: half.forwarded }));
    expectCappedAt(half, 1, 1, 'preferred 1/1');
    expect(half.forwarded[1]).toBeGreaterThan(0);

    // The viewport puts the full rate back.
    await applyViewport(consumer, { width: 640, height: 360, visible: true });
    await settle(consumer, sink, 1, 2, '360p tile after the cap');
    expectFullRate(await measure(gen, sink, 1), 1, '360p tile after the cap');
  });

  it('keeps the full frame rate when the preferred stream stops and the consumer falls back to another', async () => {
    try {
      // Downward fallback: a 720p tile while the publisher stops its top stream (uplink congestion).
      // Before 3.26 a lower fallback layer always got every temporal layer; since 3.26 it is capped
      // at the preferred temporal layer, so this is the case where temporalLayer 0 would show.
      await applyViewport(consumer, { width: 1280, height: 720, visible: true });
      await settle(consumer, sink, 2, 2, '720p tile');
      gen.setLayerActive(2, false);
      // mediasoup declares a silent stream dead after 1.5 s, then switches at the next keyframe.
      await until(() => streamScore(producer, 2) === 0, 'the stopped top stream to be declared dead', 5000);
      await settle(consumer, sink, 1, 2, '720p tile, top stream stopped');
      const down = await measure(gen, sink, 1);
      console.info(JSON.stringify({ measure: 'temporal-fallback', fallback: 'down 2->1', sent: down.sent, forwarded: down.forwarded }));
      expectFullRate(down, 1, '720p tile falling back to layer 1');

      await consumer.setPreferredLayers({ spatialLayer: 2, temporalLayer: 0 });
      await settle(consumer, sink, 1, 0, 'preferred 2/0, top stream stopped');
      const capped = await measure(gen, sink, 1);
      console.info(JSON.stringify({ measure: 'temporal-fallback', fallback: 'down 2->1, preferred temporal 0', sent: capped.sent, forwarded: capped.forwarded }));
      expectCappedAt(capped, 1, 0, 'preferred 2/0 falling back to layer 1');

      // Upward fallback: a 180p tile while the publisher stops its bottom stream. Before 3.26 a
      // higher fallback layer got temporal layer 0 only; since 3.26 it gets the preferred one.
      gen.setLayerActive(2, true);
      gen.setLayerActive(0, false);
      await until(() => streamScore(producer, 0) === 0 && streamScore(producer, 2) > 0, 'the bottom stream dead, the top one alive again', 5000);
      await applyViewport(consumer, { width: 320, height: 180, visible: true });
      await settle(consumer, sink, 1, 2, '180p tile, bottom stream stopped');
      const up = await measure(gen, sink, 1);
      console.info(JSON.stringify({ measure: 'temporal-fallback', fallback: 'up 0->1', sent: up.sent, forwarded: up.forwarded }));
      expectFullRate(up, 1, '180p tile falling back to layer 1');
    } finally {
      gen.setLayerActive(0, true);
      gen.setLayerActive(2, true);
    }
  });

  it('forwards temporal layer 0 only from a publisher that sends L1T3 but declares no scalabilityMode', async () => {
    // mediasoup then sees one temporal layer (the consumer is L3T1) and drops every packet with a
    // TID above 0, whatever temporal layer is preferred: a quarter of the frame rate.
    const { producer: undeclared, port } = await simulcastProducer(undefined);
    const g = new Vp8SimulcastGenerator({ ssrcs: SSRCS, payloadType: vp8PayloadType, temporalLayers: 3 });
    const s = new LayerSink();
    try {
      await g.bind();
      g.start({ address: '127.0.0.1', port }, 1000);
      const c = await sinkConsumer(undeclared.id, s);
      expect(c.rtpParameters.encodings?.[0]?.scalabilityMode).toBe('L3T1');
      await applyViewport(c, { width: 640, height: 360, visible: true });
      expect(c.preferredLayers).toEqual({ spatialLayer: 1, temporalLayer: 0 });
      await settle(c, s, 1, 0, 'undeclared temporal layers, 360p tile');
      const w = await measure(g, s, 1);
      console.info(JSON.stringify({ measure: 'temporal-undeclared', sent: w.sent, forwarded: w.forwarded }));
      expectCappedAt(w, 1, 0, 'undeclared temporal layers');
    } finally {
      g.stop();
      s.close();
      undeclared.close();
    }
  });
});
