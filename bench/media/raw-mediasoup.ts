/**
 * The raw-mediasoup reference: the same worker binary (MEDIASOUP_WORKER_BIN) driven by a minimal
 * script with none of our server code (no WorkerPool, no metrics, no logger, no WebRtcServer).
 * Imports only mediasoup and node: built-ins. Run as its own process by bench/media/overhead.ts:
 *
 *   node bench/media/raw-mediasoup.ts '{"consumers":128,"srtp":true,"sinkPort":40000,"rtpCapabilities":{...}}'
 *
 * prints one JSON line {"workerPid":..,"port":..,"mediaCodecs":[..]} once the producer transport
 * listens on `port` and every consumer is connected to the sink, then runs until SIGTERM or until
 * its stdin closes (the parent went away), closes the worker and waits for it to exit.
 *
 * The parent also imports `buildFanout` from here for our side of the comparison, so both sides
 * create exactly the same transports, producer and consumers.
 */
import mediasoup from 'mediasoup';
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
export async function buildFanout(router: types.Router, spec: FanoutSpec): Promise<{ port: number }> {
  const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  const producer = await inbound.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
      encodings: (spec.single ? SIMULCAST_SSRCS.slice(-1) : SIMULCAST_SSRCS).map((ssrc) => ({ ssrc })),
    },
  });
  for (let i = 0; i < spec.consumers; i++) {
    const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false, enableSrtp: spec.srtp });
    await t.connect({ ip: '127.0.0.1', port: spec.sinkPort, ...(spec.srtp ? { srtpParameters: t.srtpParameters! } : {}) });
    const c = await t.consume({ producerId: producer.id, rtpCapabilities: spec.rtpCapabilities });
    if (!spec.single) await c.setPreferredLayers({ spatialLayer: 2, temporalLayer: 0 });
  }
  return { port: inbound.tuple.localPort };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as FanoutSpec;
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
  const router = await worker.createRouter({ mediaCodecs: RAW_MEDIA_CODECS });
  const { port } = await buildFanout(router, spec);
  process.stdout.write(`${JSON.stringify({ workerPid: worker.pid, port, mediaCodecs: RAW_MEDIA_CODECS })}\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`raw-mediasoup: ${String(err)}\n`);
    process.exit(1);
  });
}
