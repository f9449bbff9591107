/**
 * mediasoup-client-shaped media parameters without a browser: a real mediasoup-client Device with
 * its FakeHandler (the handler mediasoup-client's own tests use) loads the server's router
 * capabilities, and its send transport's `produce` events give the exact rtpParameters a client
 * sends: Opus for the mic, VP8 simulcast (three encodings) or VP9 SVC (L3T3_KEY) for the camera,
 * VP8 or H264 for the screen. The device's rtpCapabilities are what a recv transport is created
 * with. The templates are captured once; each use gets fresh SSRCs, mid and CNAME from the seeded
 * Rng (the FakeHandler's own random numbers would not replay).
 */
import { Device, FakeHandler, testFakeParameters, type types as clientTypes } from 'mediasoup-client';
import { FakeMediaStreamTrack } from 'fake-mediastreamtrack';
import type { Rng } from './prng.ts';
import type { Source } from './generators.ts';

interface Template { readonly kind: 'audio' | 'video'; readonly name: string; readonly rtpParameters: clientTypes.RtpParameters }

export class MediaShapes {
  readonly deviceCaps: clientTypes.RtpCapabilities;
  readonly #bySource: Record<Source, Template[]>;

  private constructor(deviceCaps: clientTypes.RtpCapabilities, bySource: Record<Source, Template[]>) {
    this.deviceCaps = deviceCaps;
    this.#bySource = bySource;
  }

  /** Names of the captured templates (for the result line). */
  get templates(): string[] {
    return Object.entries(this.#bySource).flatMap(([s, ts]) => ts.map((t) => `${s}:${t.name}`));
  }

  static async create(routerRtpCapabilities: unknown): Promise<MediaShapes> {
    const device = new Device({ handlerFactory: FakeHandler.createFactory(testFakeParameters) });
    await device.load({ routerRtpCapabilities: routerRtpCapabilities as clientTypes.RtpCapabilities });
    const transport = device.createSendTransport(testFakeParameters.generateTransportRemoteParameters());
    let captured: clientTypes.RtpParameters | undefined;
    transport.on('connect', (_p, callback) => callback());
    transport.on('produce', (p, callback) => {
      captured = p.rtpParameters;
      callback({ id: `fake-${Math.random()}` });
    });
    const capture = async (name: string, kind: 'audio' | 'video', options: Partial<clientTypes.ProducerOptions>): Promise<Template | undefined> => {
      captured = undefined;
      try {
        const producer = await transport.produce({ track: new FakeMediaStreamTrack({ kind }) as unknown as clientTypes.ProducerOptions['track'], ...options });
        producer.close();
      } catch {
        return undefined; // the device cannot send this codec with these router capabilities
      }
      return captured ? { kind, name, rtpParameters: JSON.parse(JSON.stringify(captured)) as clientTypes.RtpParameters } : undefined;
    };
    const codec = (mime: string) => device.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === mime);
    const opus = await capture('opus', 'audio', {});
    const simulcast = await capture('vp8-simulcast', 'video', {
      codec: codec('video/vp8'),
      encodings: [
        { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: 'L1T3' },
        { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: 'L1T3' },
        { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, scalabilityMode: 'L1T3' },
      ],
    });
    const vp9 = codec('video/vp9') ? await capture('vp9-svc', 'video', { codec: codec('video/vp9'), encodings: [{ scalabilityMode: 'L3T3_KEY' }] }) : undefined;
    const vp8 = await capture('vp8', 'video', { codec: codec('video/vp8') });
    const h264 = codec('video/h264') ? await capture('h264', 'video', { codec: codec('video/h264') }) : undefined;
    transport.close();
    const keep = (...ts: (Template | undefined)[]) => ts.filter((t): t is Template => t !== undefined);
    const bySource = { mic: keep(opus), camera: keep(simulcast, vp9, vp8), screen: keep(vp8, h264) };
    for (const [s, ts] of Object.entries(bySource)) if (ts.length === 0) throw new Error(`no mediasoup-client parameters for ${s}`);
    return new MediaShapes(device.rtpCapabilities, bySource);
  }

  /** rtpParameters for a source, with fresh SSRCs, mid and CNAME. */
  forSource(rng: Rng, source: Source): { kind: 'audio' | 'video'; rtpParameters: clientTypes.RtpParameters } {
    const t = rng.pick(this.#bySource[source]);
    const p = JSON.parse(JSON.stringify(t.rtpParameters)) as clientTypes.RtpParameters;
    p.mid = String(rng.int(0, 999_999));
    if (p.rtcp) p.rtcp.cname = `fuzz-${rng.u32().toString(36)}`;
    for (const e of p.encodings ?? []) {
      if (e.ssrc !== undefined) e.ssrc = rng.int(1, 0xfffffffe);
      if (e.rtx) e.rtx.ssrc = rng.int(1, 0xfffffffe);
    }
    return { kind: t.kind, rtpParameters: p };
  }
}
