/**
 * The raw-mediasoup reference: the same worker binary (MEDIASOUP_WORKER_BIN) driven by a minimal
 * script with none of our server code (no WorkerPool, no metrics, no logger, no WebRtcServer).
 * Imports only mediasoup and node: built-ins. Run as its own process by bench/media/overhead.ts
 * and bench/media/versions.ts:
 *
 *   node bench/media/raw-mediasoup.ts '{"consumers":128,"srtp":true,"sinkPort":40000,"rtpCapabilities":{...}}'
 *   node bench/media/raw-mediasoup.ts '{"sessions":{"count":200,"sinkPorts":[..],"layers":{..}}}'
 *
 * Fan-out: prints one JSON line {"workerPid":..,"port":..,"mediaCodecs":[..],"mediasoup":".."} once
 * the producer transport listens on `port` and every consumer is connected to the sink. Sessions
 * (the 1:1 pattern of bench/media/sessions.ts in raw form): prints {"workerPid":..,"senders":[..],
 * "consumers":[..],"mediaCodecs":[..],"mediasoup":".."}, then {"ready":true} once every video
 * consumer forwards its preferred spatial layer. Then runs until SIGTERM or until its stdin closes
 * (the parent went away), closes the worker and waits for it to exit.
 *
 * `BENCH_MEDIASOUP_MODULE` (a file path) picks another mediasoup release than the project's (the
 * version comparison runs 3.12.16 this way); the calls below work on both APIs.
 *
 * The parent also imports `buildFanout` from here for our side of the comparison, so both sides
 * create exactly the same transports, producer and consumers.
 */
import { pathToFileURL } from 'node:url';
import type { types } from 'mediasoup';

/** A copy of src/media/codecs.ts (this file may not import our code); the parent checks they are equal. */
export const RAW_MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
  { kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 0, 'x-google-start-bitrate': 1000 } },
  {
    kind: 'video', mimeType: 'video/H264', clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1, 'x-google-start-bitrate': 1000 },
  },
  {
    kind: 'video', mimeType: 'video/H264', clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '4d0032', 'level-asymmetry-allowed': 1, 'x-google-start-bitrate': 1000 },
  },
];

/** The three simulcast SSRCs of bench/media/fanout.ts's producer. */
export const SIMULCAST_SSRCS = [1001, 1002, 1003];

/** The consumers' capabilities in bench/media/fanout.ts: VP8 with NACK/PLI, no header extensions. */
export const FANOUT_CAPS: types.RtpCapabilities = {
  codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
  headerExtensions: [],
};

/**
 * PlainTransport listen options for this mediasoup release: `listenInfo` since 3.13 (the project's
 * release; `listenIp` is deprecated there), `listenIp` before (3.12.16 knows only that).
 */
export function plainListen(version: string): { listenInfo: types.TransportListenInfo } {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 3 || (major === 3 && minor >= 13)) return { listenInfo: { protocol: 'udp', ip: '127.0.0.1' } };
  return { listenIp: '127.0.0.1' } as never;
}

export interface FanoutSpec {
  readonly consumers: number;
  readonly srtp: boolean;
  readonly sinkPort: number;
  readonly rtpCapabilities: types.RtpCapabilities;
  /** One encoding (the top layer's SSRC) instead of three: the consumers are simple, not simulcast. */
  readonly single?: boolean;
}

/**
 * On `router`: a PlainTransport (comedia) with the 3-SSRC VP8 simulcast producer of fanout.ts (or
 * its top layer alone when `single`) and
 * `consumers` PlainTransport consumers of its top layer sending to 127.0.0.1:sinkPort (SRTP when
 * `srtp`). Returns the port the generator sends to.
 */
export async function buildFanout(router: types.Router, spec: FanoutSpec, version = '3.27'): Promise<{ port: number }> {
  const listen = plainListen(version);
  const inbound = await router.createPlainTransport({ ...listen, rtcpMux: true, comedia: true });
  const producer = await inbound.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
      encodings: (spec.single ? SIMULCAST_SSRCS.slice(-1) : SIMULCAST_SSRCS).map((ssrc) => ({ ssrc })),
    },
  });
  for (let i = 0; i < spec.consumers; i++) {
    const t = await router.createPlainTransport({ ...listen, rtcpMux: true, comedia: false, enableSrtp: spec.srtp });
    await t.connect({ ip: '127.0.0.1', port: spec.sinkPort, ...(spec.srtp ? { srtpParameters: t.srtpParameters! } : {}) });
    const c = await t.consume({ producerId: producer.id, rtpCapabilities: spec.rtpCapabilities });
    if (!spec.single) await c.setPreferredLayers({ spatialLayer: 2, temporalLayer: 0 });
  }
  return { port: inbound.tuple.localPort };
}

/** The 1:1 pattern of bench/media/sessions.ts: `count` rooms of a clinician and a student. */
export interface SessionsSpec {
  readonly count: number;
  /** Two sinks per session, [clinician, student] of session i at 2i and 2i + 1. */
  readonly sinkPorts: readonly number[];
  /** Spatial layer each subscriber prefers (the parent derives them from the server's viewport rule). */
  readonly layers: { readonly clinicianSeesStudent: number; readonly studentSeesClinician: number };
  readonly srtpCryptoSuite: types.SrtpCryptoSuite;
}
/** Structurally bench/media/loadgen.ts's LoadSender and LoadConsumer (this file imports no project code). */
interface SenderOut { port: number; video: { pt: number; ssrcs: [number, number, number]; activeLayers: number }; audio: { pt: number; ssrc: number } }
interface ConsumerOut { sink: number; ssrc: number; sourceSsrc: number; probe: false }

const SESSION_CAPS: types.RtpCapabilities = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100 },
    { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] },
  ],
  headerExtensions: [],
};

/**
 * One router per session (as the server places rooms) with an active-speaker observer; each
 * participant publishes 3-layer VP8 simulcast and Opus on a comedia PlainTransport and receives the
 * other's on one SRTP PlainTransport, with the room's priorities (audio 255, the clinician's view
 * of the student 200, the rest 100) and preferred layers. Resolves `ready` once every video
 * consumer forwards its preferred spatial layer.
 */
export async function buildSessions(worker: types.Worker, spec: SessionsSpec, version: string) {
  const listen = plainListen(version);
  const senders: SenderOut[] = [];
  const consumers: ConsumerOut[] = [];
  const waiting: Promise<void>[] = [];
  let ssrc = 20_000;
  const one = async (i: number) => {
    const router = await worker.createRouter({ mediaCodecs: structuredClone(RAW_MEDIA_CODECS) });
    const speaker = await router.createActiveSpeakerObserver();
    const people = [];
    for (const role of ['clinician', 'student'] as const) {
      const inbound = await router.createPlainTransport({ ...listen, rtcpMux: true, comedia: true });
      const base = ssrc;
      ssrc += 4;
      const video = await inbound.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
          encodings: [{ ssrc: base }, { ssrc: base + 1 }, { ssrc: base + 2 }],
        },
      });
      const audio = await inbound.produce({ kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: base + 3 }] } });
      await speaker.addProducer({ producerId: audio.id });
      // The publisher sends the layers its viewer needs (dynacast): the layer the other side prefers, and those below.
      const needed = (role === 'clinician' ? spec.layers.studentSeesClinician : spec.layers.clinicianSeesStudent) + 1;
      senders.push({ port: inbound.tuple.localPort, video: { pt: 101, ssrcs: [base, base + 1, base + 2], activeLayers: needed }, audio: { pt: 100, ssrc: base + 3 } });
      people.push({ role, video, audio, sink: spec.sinkPorts[2 * i + (role === 'clinician' ? 0 : 1)]!, sinkIndex: 2 * i + (role === 'clinician' ? 0 : 1) });
    }
    for (const sub of people) {
      const pub = people.find((p) => p !== sub)!;
      const t = await router.createPlainTransport({ ...listen, rtcpMux: true, comedia: false, enableSrtp: true, srtpCryptoSuite: spec.srtpCryptoSuite });
      await t.connect({ ip: '127.0.0.1', port: sub.sink, srtpParameters: t.srtpParameters! });
      for (const producer of [pub.video, pub.audio]) {
        const c = await t.consume({ producerId: producer.id, rtpCapabilities: SESSION_CAPS });
        await c.setPriority(c.kind === 'audio' ? 255 : sub.role === 'clinician' ? 200 : 100);
        let source = producer.rtpParameters.encodings![0]!.ssrc!;
        if (c.kind === 'video') {
          const layer = sub.role === 'clinician' ? spec.layers.clinicianSeesStudent : spec.layers.studentSeesClinician;
          await c.setPreferredLayers({ spatialLayer: layer, temporalLayer: 0 });
          source = producer.rtpParameters.encodings![layer]!.ssrc!;
          waiting.push(new Promise<void>((resolve) => {
            const check = () => { if (c.currentLayers?.spatialLayer === layer) { c.off('layerschange', check); resolve(); } };
            c.on('layerschange', check);
            check();
          }));
        }
        consumers.push({ sink: sub.sinkIndex, ssrc: c.rtpParameters.encodings![0]!.ssrc!, sourceSsrc: source, probe: false });
      }
    }
  };
  for (let i = 0; i < spec.count; i += 8) await Promise.all(Array.from({ length: Math.min(8, spec.count - i) }, (_, j) => one(i + j)));
  return { senders, consumers, ready: Promise.all(waiting).then(() => undefined) };
}

/** mediasoup itself: the project's release, or the one at BENCH_MEDIASOUP_MODULE. */
async function loadMediasoup(): Promise<typeof import('mediasoup')> {
  const path = process.env.BENCH_MEDIASOUP_MODULE;
  const mod = (await import(path ? pathToFileURL(path).href : 'mediasoup')) as { default: typeof import('mediasoup') };
  return mod.default;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as FanoutSpec & { sessions?: SessionsSpec };
  const mediasoup = await loadMediasoup();
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const pid = worker.pid;
    worker.close();
    const deadline = Date.now() + 3000;
    const wait = (): void => {
      try {
        process.kill(pid, 0);
        if (Date.now() < deadline) { setTimeout(wait, 20); return; }
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
      process.exit(0);
    };
    wait();
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
  worker.on('died', () => process.exit(1));
  const facts = { workerPid: worker.pid, mediaCodecs: RAW_MEDIA_CODECS, mediasoup: mediasoup.version };
  if (spec.sessions) {
    const built = await buildSessions(worker, spec.sessions, mediasoup.version);
    process.stdout.write(`${JSON.stringify({ ...facts, senders: built.senders, consumers: built.consumers })}\n`);
    await built.ready;
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    return;
  }
  const router = await worker.createRouter({ mediaCodecs: structuredClone(RAW_MEDIA_CODECS) });
  const { port } = await buildFanout(router, spec, mediasoup.version);
  process.stdout.write(`${JSON.stringify({ ...facts, port })}\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`raw-mediasoup: ${String(err)}\n`);
    process.exit(1);
  });
}
