/**
 * Scenarios (b) 1:1 telepractice sessions, (c) groups of 6 and (d) a large audio-only room, stepped
 * up until the service level breaks. Our media layer (WorkerPool, one router per room, as the server
 * places rooms) and our forwarding code (mayReceive with the default policy, applyViewport ->
 * spatialLayerFor, spatialLayersNeeded for the publishers' layers, the room's consumer priorities,
 * the room's ActiveSpeaker observer); the load tool (loadgen.ts) sends and counts on core 1.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { types } from 'mediasoup';
import { WorkerPool } from '../../src/media/worker-pool.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { mayReceive, type ForwardingPolicy } from '../../src/room/forwarding-policy.ts';
import { applyViewport } from '../../src/room/viewport.ts';
import { spatialLayersNeeded } from '../../src/room/dynacast.ts';
import { ActiveSpeaker } from '../../src/room/active-speaker.ts';
import type { Role } from '../../src/domain/roles.ts';
import { pin } from '../lib/machine.ts';
import { startLoadGen, type LoadConsumer, type LoadGen, type LoadResult, type LoadSender } from './loadgen.ts';

/** The service level of issue #6: a step holds while all three stay below their limits. */
export const SERVICE_LEVEL = { loss: 0.005, latencyP99Ms: 10, workerCpuPercent: 90 } as const;

/** Tile heights (px) of the layouts: what each subscriber's client reports through setViewport. */
export const LAYOUT = {
  /** 1:1 and groups: the clinician watches a student's face closely (full tile). */
  clinicianSeesStudent1to1: 720,
  /** The student's screen shows the clinician in a smaller tile beside the activity. */
  studentSeesClinician: 360,
  /** A group's clinician sees five students in a gallery. */
  clinicianGallery: 240,
} as const;

const VP8_PT = 101;
const OPUS_PT = 100;
/** Bare consumers like fanout.ts (no header extensions, no transport-cc). */
const CAPS: types.RtpCapabilities = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: OPUS_PT },
    { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: VP8_PT, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] },
  ],
  headerExtensions: [],
};

interface Member { readonly role: Role; readonly video: boolean }

/**
 * How the participants speak. `turnTaking`: in a 1:1 room the two take turns (loadgen.c's TALK_*
 * model: each talks 44 % of the time, never both) and a silent one sends Opus DTX packets (one per
 * 400 ms), as the browser client asks (opusDtx); otherwise every participant sends a frame every
 * `ptimeMs` throughout (the media bench's model until issue #18).
 */
export interface Speech { readonly turnTaking: boolean; readonly ptimeMs: number }
export const CONTINUOUS: Speech = { turnTaking: false, ptimeMs: 20 };
export const TURN_TAKING: Speech = { turnTaking: true, ptimeMs: 20 };
/**
 * The 1:1 scenario's model since issue #18 (bench/media/lean.ts measured each part on its own): what
 * the browser client and Chromium send: turn-taking speech with Opus DTX in 40 ms frames
 * (OPUS_PTIME_MS of src/client/media-link.ts), AEAD_AES_256_GCM to the subscribers.
 */
export const SESSION_MODEL = { speech: { ...TURN_TAKING, ptimeMs: 40 }, srtpCryptoSuite: 'AEAD_AES_256_GCM' } as const satisfies { speech: Speech; srtpCryptoSuite: types.SrtpCryptoSuite };
interface RoomSpec {
  readonly id: string;
  readonly members: readonly Member[];
  /** Tile height at which `sub` shows `pub`'s video. */
  readonly tile: (sub: Member, pub: Member) => number;
}

export interface StepResult {
  readonly scenario: 'sessions' | 'groups' | 'audioRoom';
  /** Sessions (b), groups (c) or participants (d). */
  readonly size: number;
  readonly dynacast: boolean;
  readonly speech: Speech;
  /** SRTP suite of the subscribers' transports. */
  readonly srtpCryptoSuite: types.SrtpCryptoSuite;
  readonly participants: number;
  readonly consumers: number;
  readonly probeConsumers: number;
  readonly seconds: number;
  /** Media packets the consumers delivered per second (probes included: the worker sent them). */
  readonly forwardedPps: number;
  /** Media packets the worker received per second (RTP from the generator). */
  readonly receivedPps: number;
  readonly usPerPacket: number;
  readonly workerCpuPercent: number;
  readonly loss: number;
  readonly lossVideo: number;
  readonly lossAudio: number;
  readonly stalledConsumers: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** Percentiles 0, 5, ..., 100 of added latency on the probe consumers. */
  readonly latencyCdfMs: number[];
  readonly withinServiceLevel: boolean;
  /** Limits this step broke: loss, latency, cpu. */
  readonly broke: string[];
  readonly eventLoopP99Ms: number;
  readonly loadCore: { tool: 'c' | 'node'; cpuPercent: number; core1BusyPercent: number; maxLateMs: number; sinkDrops: number; udpRcvbufErrors: number; keptUp: boolean; fallbackReason?: string };
  /** Core 0's busy time not spent by the worker (other processes: a noisy step when above ~10). */
  readonly core0OtherPercent: number;
  readonly setupSeconds: number;
  /** 1-minute load average when the step ended (above ~1 the shared machine was noisy). */
  readonly loadAvg1: number;
  /** Set when this is the second try of a step whose first try broke the service level. */
  readonly retried?: boolean;
}

const defaultPolicy = (): ForwardingPolicy =>
  (JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as { forwarding: ForwardingPolicy }).forwarding;

/** (b) K rooms of clinician + student, both sending simulcast video and Opus. */
export function oneToOne(k: number): RoomSpec[] {
  return Array.from({ length: k }, (_, i) => ({
    id: `s${i}`,
    members: [{ role: 'clinician', video: true }, { role: 'student', video: true }],
    tile: (sub) => (sub.role === 'clinician' ? LAYOUT.clinicianSeesStudent1to1 : LAYOUT.studentSeesClinician),
  }));
}

/** (c) G rooms of a clinician and five students (default policy: students do not receive each other). */
export function groupsOf6(g: number): RoomSpec[] {
  return Array.from({ length: g }, (_, i) => ({
    id: `g${i}`,
    members: [{ role: 'clinician', video: true }, ...Array.from({ length: 5 }, () => ({ role: 'student' as const, video: true }))],
    tile: (sub) => (sub.role === 'clinician' ? LAYOUT.clinicianGallery : LAYOUT.studentSeesClinician),
  }));
}

/** (d) One open room of M audio-only participants, everyone receiving everyone. */
export function audioRoom(m: number): RoomSpec[] {
  return [{ id: 'audio', members: Array.from({ length: m }, () => ({ role: 'clinician' as const, video: false })), tile: () => 0 }];
}

interface Placed { member: Member; roomIndex: number; index: number; video?: types.Producer; audio: types.Producer; sink: number }

/** Runs one step: builds the rooms on a fresh worker, measures a window, tears everything down. */
export async function runStep(opts: {
  scenario: StepResult['scenario'];
  size: number;
  rooms: RoomSpec[];
  dynacast: boolean;
  probes: number;
  warmupMs: number;
  windowMs: number;
  /** Default AES_CM_128_HMAC_SHA1_80 (what fanout.ts uses and every browser offers). */
  srtpCryptoSuite?: types.SrtpCryptoSuite;
  /** How people speak: continuous audio (default) or turn-taking with Opus DTX (1:1 rooms only); audio frame length. */
  speech?: Speech;
  /** Runs alongside the load once everything is built (e.g. a profiler attached to the worker). */
  during?: (workerPid: number) => Promise<unknown>;
}): Promise<StepResult> {
  const srtpCryptoSuite = opts.srtpCryptoSuite ?? 'AES_CM_128_HMAC_SHA1_80';
  const speech = opts.speech ?? CONTINUOUS;
  const setupStart = performance.now();
  const basePolicy = defaultPolicy();
  const policy: ForwardingPolicy = { ...basePolicy, openRooms: opts.scenario === 'audioRoom' ? opts.rooms.map((r) => r.id) : [] };
  const pool = await WorkerPool.create({ size: 1, logLevel: 'error', listenIp: '127.0.0.1', announcedIp: undefined, basePort: 0, cpuPollMs: 5000 }, createLogger('silent'), new Metrics({ defaultMetrics: false }));
  let gen: LoadGen | undefined;
  try {
    const workerPid = pool.pids[0]!;
    pin(workerPid, 0);
    pin(process.pid, 1);
    gen = await startLoadGen();
    if (gen.tool === 'c') pin(gen.pid, 1);
    const participants = opts.rooms.reduce((n, r) => n + r.members.length, 0);
    const probeSubs = new Set(Array.from({ length: Math.min(opts.probes, participants) }, (_, i) => Math.floor((i * participants) / Math.min(opts.probes, participants))));
    const ports = await gen.sinkPorts(participants + probeSubs.size);
    const senders: LoadSender[] = [];
    const consumers: LoadConsumer[] = [];
    const allConsumers = new Map<string, types.Consumer[]>();
    let ssrc = 10_000 + Math.floor(Math.random() * 1e6) * 4;
    const videoConsumers: types.Consumer[] = [];
    let realConsumers = 0;
    let probeConsumers = 0;
    let probeSink = participants;

    // Rooms are independent: build them a few at a time (the worker answers requests in order anyway).
    const buildRoom = async (room: RoomSpec, roomIndex: number, firstIndex: number) => {
      const { router } = await pool.createRouter();
      const speaker = new ActiveSpeaker(router, () => undefined);
      const placed: Placed[] = [];
      for (const [j, member] of room.members.entries()) {
        const index = firstIndex + j;
        const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
        const base = ssrc;
        ssrc += 4;
        const video = member.video
          ? await inbound.produce({
            kind: 'video',
            rtpParameters: {
              codecs: [{ mimeType: 'video/VP8', payloadType: VP8_PT, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
              encodings: [{ ssrc: base }, { ssrc: base + 1 }, { ssrc: base + 2 }],
            },
          })
          : undefined;
        const audio = await inbound.produce({ kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: base + 3 }] } });
        await speaker.add(audio);
        senders.push({
          port: inbound.tuple.localPort,
          ...(video ? { video: { pt: VP8_PT, ssrcs: [base, base + 1, base + 2] as const, activeLayers: 3 } } : {}),
          audio: {
            pt: OPUS_PT, ssrc: base + 3, ptimeMs: speech.ptimeMs,
            ...(speech.turnTaking && room.members.length === 2 ? { talk: { session: roomIndex, slot: j === 0 ? 0 as const : 1 as const } } : {}),
          },
        });
        placed.push({ member, roomIndex, index, ...(video ? { video } : {}), audio, sink: index });
      }
      for (const sub of placed) {
        const makeOut = async (srtp: boolean, sink: number) => {
          const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false, enableSrtp: srtp, ...(srtp ? { srtpCryptoSuite } : {}) });
          await t.connect({ ip: '127.0.0.1', port: ports[sink]!, ...(srtp ? { srtpParameters: t.srtpParameters! } : {}) });
          return t;
        };
        const outs: { t: types.PlainTransport; probe: boolean; sink: number }[] = [{ t: await makeOut(true, sub.sink), probe: false, sink: sub.sink }];
        if (probeSubs.has(sub.index)) {
          const sink = probeSink++;
          outs.push({ t: await makeOut(false, sink), probe: true, sink });
        }
        for (const pub of placed) {
          if (pub === sub || !mayReceive(policy, room.id, sub.member.role, pub.member.role)) continue;
          for (const { t, probe, sink } of outs) {
            for (const producer of [pub.video, pub.audio]) {
              if (!producer) continue;
              const c = await t.consume({ producerId: producer.id, rtpCapabilities: CAPS });
              // The room's priorities: audio first, then a clinician's view of a student, then the rest.
              await c.setPriority(c.kind === 'audio' ? 255 : sub.member.role === 'clinician' && pub.member.role === 'student' ? 200 : 100);
              if (c.kind === 'video') await applyViewport(c, { width: Math.round((room.tile(sub.member, pub.member) * 16) / 9), height: room.tile(sub.member, pub.member), visible: true });
              if (c.kind === 'video') videoConsumers.push(c);
              const list = allConsumers.get(producer.id) ?? [];
              list.push(c);
              allConsumers.set(producer.id, list);
              const source = producer.kind === 'audio'
                ? producer.rtpParameters.encodings![0]!.ssrc!
                : producer.rtpParameters.encodings![c.preferredLayers?.spatialLayer ?? 2]!.ssrc!;
              consumers.push({ sink, ssrc: c.rtpParameters.encodings![0]!.ssrc!, sourceSsrc: source, probe });
              if (probe) probeConsumers++; else realConsumers++;
            }
          }
        }
      }
      return placed;
    };
    const allPlaced: Placed[] = [];
    const firstIndex: number[] = [];
    opts.rooms.reduce((n, r, i) => { firstIndex[i] = n; return n + r.members.length; }, 0);
    for (let i = 0; i < opts.rooms.length; i += 8) {
      const batch = opts.rooms.slice(i, i + 8).map((r, j) => buildRoom(r, i + j, firstIndex[i + j]!));
      for (const p of await Promise.all(batch)) allPlaced.push(...p);
    }

    // Dynacast: the publisher sends only the layers someone needs (the server's layersNeeded).
    const bySsrc = new Map(senders.map((s) => [s.audio!.ssrc, s]));
    const finalSenders = allPlaced.map((p) => {
      const s = bySsrc.get(p.audio.rtpParameters.encodings![0]!.ssrc!)!;
      if (!s.video || !p.video) return s;
      const needed = opts.dynacast ? spatialLayersNeeded(p.video, allConsumers.get(p.video.id) ?? []) ?? 3 : 3;
      return { ...s, video: { ...s.video, activeLayers: needed } };
    });
    const setupSeconds = (performance.now() - setupStart) / 1000;

    // Resolution 1 ms: the histogram holds whole timer intervals, so it includes up to 1 ms of interval
    // (at the default 10 ms an idle loop already reads p99 = 11 ms).
    const eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
    const runStart = performance.now();
    const during = opts.during?.(workerPid);
    const r: LoadResult = await gen.run({ workerPid, warmupMs: opts.warmupMs, windowMs: opts.windowMs, senders: finalSenders, consumers }, onTargetLayers(videoConsumers));
    await during;
    eld.disable();
    if (process.env.LOADGEN_DEBUG) process.stderr.write(`warm-up ${Math.round(performance.now() - runStart)} ms before window; ${JSON.stringify(r)}\n`);

    const received = r.receivedVideo + r.receivedAudio;
    const expected = r.expectedVideo + r.expectedAudio;
    const loss = Math.max(0, 1 - received / Math.max(1, expected));
    const cdf = r.latencyCdfMs.map(round2);
    const workerCpuPercent = (r.workerCpuS / r.windowS) * 100;
    const latencyP99Ms = round2(r.latencyP99Ms);
    const broke = [
      ...(loss >= SERVICE_LEVEL.loss ? ['loss'] : []),
      ...(latencyP99Ms >= SERVICE_LEVEL.latencyP99Ms ? ['latency'] : []),
      ...(workerCpuPercent >= SERVICE_LEVEL.workerCpuPercent ? ['cpu'] : []),
    ];
    const loadCpuPercent = (r.loadCpuS / r.windowS) * 100;
    return {
      // Headline fields first: the summary table (bench/report.ts) shows the first 16 columns.
      scenario: opts.scenario, size: opts.size, consumers: realConsumers,
      forwardedPps: Math.round(received / r.windowS),
      receivedPps: Math.round(r.sentMedia / r.windowS),
      usPerPacket: round2((r.workerCpuS * 1e6) / Math.max(1, received)),
      workerCpuPercent: round2(workerCpuPercent),
      loss: round4(loss),
      latencyP50Ms: cdf[10]!, latencyP99Ms,
      withinServiceLevel: broke.length === 0, broke,
      core0OtherPercent: round2(Math.max(0, r.core0BusyPercent - workerCpuPercent)),
      loadAvg1: round2(loadavg()[0]!),
      dynacast: opts.dynacast, speech, srtpCryptoSuite, participants, probeConsumers,
      seconds: round2(r.windowS),
      lossVideo: round4(Math.max(0, 1 - r.receivedVideo / Math.max(1, r.expectedVideo))),
      lossAudio: round4(Math.max(0, 1 - r.receivedAudio / Math.max(1, r.expectedAudio))),
      stalledConsumers: r.stalledConsumers,
      latencyCdfMs: cdf,
      eventLoopP99Ms: round2(eld.percentile(99) / 1e6),
      loadCore: {
        tool: r.tool, cpuPercent: round2(loadCpuPercent), core1BusyPercent: round2(r.core1BusyPercent), maxLateMs: round2(r.maxLateMs),
        sinkDrops: r.sinkDrops, udpRcvbufErrors: r.udpRcvbufErrors,
        // The load core kept up: it was not saturated, sent on time and dropped nothing at its sinks.
        keptUp: r.core1BusyPercent < 95 && r.maxLateMs < 50 && r.sinkDrops <= 0,
        ...(gen.fallbackReason ? { fallbackReason: gen.fallbackReason } : {}),
      },
      setupSeconds: round2(setupSeconds),
    };
  } finally {
    gen?.close();
    await pool.close();
  }
}

/**
 * Resolves once every video consumer forwards its preferred spatial layer, then 300 ms later (mediasoup starts simulcast consumers on layer 0 and upgrades once the
 * streams have a score, about 2 s in; counting before that would count the lower layer as loss).
 */
function onTargetLayers(consumers: readonly types.Consumer[]): Promise<void> {
  return new Promise((resolve) => {
    const pending = new Set(consumers.filter((c) => c.currentLayers?.spatialLayer !== c.preferredLayers?.spatialLayer));
    const done = () => setTimeout(resolve, 300);
    if (pending.size === 0) { done(); return; }
    for (const c of pending) {
      const on = (l?: types.ConsumerLayers) => {
        if (l?.spatialLayer !== c.preferredLayers?.spatialLayer) return;
        c.off('layerschange', on);
        pending.delete(c);
        if (pending.size === 0) done();
      };
      c.on('layerschange', on);
    }
  });
}

export interface SteppedResult {
  readonly steps: StepResult[];
  /** The largest size within the service level (0 when even the first step broke). */
  readonly largest: number;
  readonly consumersAtLargest: number;
  /** What broke at the first step past `largest` ('not reached' when every step held). */
  readonly limitedBy: string;
  readonly loadTool: 'c' | 'node';
}

/** Steps a scenario up until the service level breaks (or the steps or time budget run out). */
export async function stepUp(opts: {
  scenario: StepResult['scenario'];
  sizes: readonly number[];
  rooms: (size: number) => RoomSpec[];
  warmupMs: number;
  windowMs: number;
  probes: number;
  deadline: number;
  log: (line: string) => void;
  speech?: Speech;
  srtpCryptoSuite?: types.SrtpCryptoSuite;
}): Promise<SteppedResult> {
  const steps: StepResult[] = [];
  let limitedBy = 'not reached';
  for (const size of opts.sizes) {
    if (performance.now() > opts.deadline && steps.length > 0) { limitedBy = 'not reached (time budget)'; break; }
    const step = () => runStep({
      scenario: opts.scenario, size, rooms: opts.rooms(size), dynacast: true, probes: opts.probes, warmupMs: opts.warmupMs, windowMs: opts.windowMs,
      ...(opts.speech ? { speech: opts.speech } : {}), ...(opts.srtpCryptoSuite ? { srtpCryptoSuite: opts.srtpCryptoSuite } : {}),
    });
    let s = await step();
    opts.log(describe(s));
    if (!s.withinServiceLevel) {
      // The machine is shared: a neighbour's burst on either core can break a step. Try it once more.
      const again = { ...(await step()), retried: true };
      opts.log(describe(again));
      if (again.withinServiceLevel || again.broke.length <= s.broke.length) s = again;
    }
    steps.push(s);
    if (!s.withinServiceLevel) { limitedBy = s.broke.join('+'); break; }
  }
  const held = steps.filter((s) => s.withinServiceLevel).at(-1);
  return { steps, largest: held?.size ?? 0, consumersAtLargest: held?.consumers ?? 0, limitedBy, loadTool: steps[0]?.loadCore.tool ?? 'c' };
}

export function describe(s: StepResult): string {
  return `${s.scenario} ${s.size}${s.dynacast ? '' : ' (no dynacast)'}${s.speech.turnTaking ? ' (turn-taking)' : ''}${s.speech.ptimeMs === 20 ? '' : ` (ptime ${s.speech.ptimeMs})`}${s.srtpCryptoSuite === 'AES_CM_128_HMAC_SHA1_80' ? '' : ` (${s.srtpCryptoSuite})`}: ${s.consumers} consumers, ${s.forwardedPps} fwd pkt/s (${s.receivedPps} in), ${s.usPerPacket} us/pkt, worker ${s.workerCpuPercent}%, loss ${s.loss}, p50/p99 ${s.latencyP50Ms}/${s.latencyP99Ms} ms, load core ${s.loadCore.core1BusyPercent}% busy${s.loadCore.keptUp ? '' : ' (DID NOT KEEP UP)'}, ev-loop p99 ${s.eventLoopP99Ms} ms, setup ${s.setupSeconds} s, load ${s.loadAvg1}, core 0 others ${s.core0OtherPercent}%${s.retried ? ', retry' : ''}${s.broke.length ? `, broke: ${s.broke.join('+')}` : ''}`;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round4 = (n: number) => Math.round(n * 10000) / 10000;

/** Step sizes and time budgets of the scenarios (full run: at most ~4 minutes together). */
const PLAN = {
  full: { sessions: [50, 100, 150, 200, 250, 300, 350, 400, 425, 450, 500], groups: [20, 60, 80, 90, 100, 110, 120, 140], audio: [10, 30, 50, 60, 65, 70, 80], warmupMs: 6000, windowMs: 4000, budgetS: { sessions: 150, oldModel: 120, noDynacast: 15, groups: 60, audio: 45 } },
  quick: { sessions: [2, 5], groups: [2], audio: [6], warmupMs: 3000, windowMs: 1000, budgetS: { sessions: 8, oldModel: 0, noDynacast: 0, groups: 4, audio: 3 } },
} as const;

/**
 * Scenarios (b), (c), (d) for the media bench summary: the steps, the largest size within the
 * service level of each, and the headline sessionsPerCore / consumersPerCore from (b) (one worker
 * on one core, so per worker = per core).
 */
export async function sessionScenarios(quick: boolean, log: (line: string) => void) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const started = performance.now();
  const common = { warmupMs: plan.warmupMs, windowMs: plan.windowMs, probes: 4, log };
  const deadline = (s: number) => performance.now() + s * 1000;
  // (b) with the session model of issue #18 (what our client and the browsers send: turn-taking speech
  // with Opus DTX, AEAD_AES_256_GCM), then the model before it on the same host in the same run.
  const sessions = await stepUp({ ...common, ...SESSION_MODEL, scenario: 'sessions', sizes: plan.sessions, rooms: oneToOne, deadline: deadline(plan.budgetS.sessions) });
  const oldModel = quick ? undefined : await stepUp({ ...common, scenario: 'sessions', sizes: plan.sessions, rooms: oneToOne, deadline: deadline(plan.budgetS.oldModel) });
  // The same load without publisher-side layer pausing, at the largest size that held.
  let noDynacast: StepResult | undefined;
  if (!quick && sessions.largest > 0) {
    noDynacast = await runStep({ ...SESSION_MODEL, scenario: 'sessions', size: sessions.largest, rooms: oneToOne(sessions.largest), dynacast: false, probes: 4, warmupMs: plan.warmupMs, windowMs: plan.windowMs });
    log(describe(noDynacast));
  }
  const groups = await stepUp({ ...common, scenario: 'groups', sizes: plan.groups, rooms: groupsOf6, deadline: deadline(plan.budgetS.groups) });
  const audio = await stepUp({ ...common, scenario: 'audioRoom', sizes: plan.audio, rooms: audioRoom, deadline: deadline(plan.budgetS.audio) });
  const at = sessions.steps.find((s) => s.size === sessions.largest);
  const seconds = Math.round((performance.now() - started) / 1000);
  log(`sessions/groups/audio room: ${seconds} s; sessionsPerCore ${sessions.largest} (${sessions.consumersAtLargest} consumers), next limit: ${sessions.limitedBy}`);
  return {
    serviceLevel: SERVICE_LEVEL,
    layout: LAYOUT,
    loadTool: sessions.loadTool,
    ...(sessions.steps[0]?.loadCore.fallbackReason ? { loadToolFallbackReason: sessions.steps[0].loadCore.fallbackReason } : {}),
    sessionModel: SESSION_MODEL,
    sessions: sessions.steps,
    ...(oldModel ? { sessionsOldModel: { steps: oldModel.steps, largest: oldModel.largest, limitedBy: oldModel.limitedBy, model: 'continuous audio, AES_CM_128_HMAC_SHA1_80 (before issue #18)' } } : {}),
    ...(noDynacast ? { sessionsWithoutDynacast: noDynacast } : {}),
    groups: { steps: groups.steps, largest: groups.largest, consumers: groups.consumersAtLargest, limitedBy: groups.limitedBy },
    audioRoom: {
      steps: audio.steps, largest: audio.largest, consumers: audio.consumersAtLargest, limitedBy: audio.limitedBy,
      forwardedPps: audio.steps.find((s) => s.size === audio.largest)?.forwardedPps ?? 0,
    },
    sessionsPerCore: sessions.largest,
    consumersPerCore: sessions.consumersAtLargest,
    sessionsLimitedBy: sessions.limitedBy,
    sessionsAtLimit: at ? { forwardedPps: at.forwardedPps, usPerPacket: at.usPerPacket, workerCpuPercent: at.workerCpuPercent, eventLoopP99Ms: at.eventLoopP99Ms, loadCoreKeptUp: at.loadCore.keptUp } : undefined,
    scenarioSeconds: seconds,
  };
}
