import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_BIN, chromiumAvailable, openClient, pollUntil, STOCK_CHROMIUM_FLAGS, type ClientPage, type InboundStat, type OutboundStat } from '../../test/helpers/browser.ts';
import { createVethNamespace, netnsUnavailable, type VethNamespace } from '../../test/helpers/netns.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { TcpBalancer } from '../../test/helpers/tcp-balancer.ts';
import { clearRoot, nsInterface, rootDrops, shapeRate } from '../../test/helpers/tc.ts';
import { startUdpRelay, type UdpRelay } from '../../test/helpers/udp-relay.ts';
import { Rng } from '../fuzz/prng.ts';
import { directionResult, spread, type DirectionResult, type DirectionSample } from './analysis.ts';

/**
 * The poor-link bench (issue #14): a real call between two Chromium pages, the student's page on a
 * poor link, the clinician's on a clean one, measured before, during and after the impairment.
 *
 * The student's Chromium runs inside a network namespace of the bench's own, joined to the host by
 * a veth pair; the clinician's runs on the host. The SFU (one worker) listens on 127.0.0.1 and
 * announces the veth's host address, where a userspace UDP relay (test/helpers/udp-relay.ts) passes
 * both pages' media on to it: the student's datagrams cross the veth (where `tc tbf` limits the
 * rate, both ways) and the relay (which drops and delays them, both ways); the clinician's never do.
 * Signalling and the pages come through a TCP forwarder on the same address (the student's over the
 * veth too). This kernel has no netem: rate by tbf, loss and delay by the relay
 * (shared/notes/networks-browsers-clients.md).
 *
 * Each run: a fresh two-page call, a warm-up, then `before` s clean, `impaired` s impaired, `after`
 * s clean, both pages' stats sampled every SAMPLE_MS. Scenarios alternate within each repetition.
 */

export interface Scenario {
  name: string;
  /** tbf on both veth ends (the student's uplink and downlink). */
  rate?: { kbit: number; burstBytes: number; latencyMs: number };
  /** The relay, both ways, for the student's datagrams only: independent random loss, and a fixed one-way delay. */
  lossPercent?: number;
  oneWayDelayMs?: number;
  /** The SFU's own answer to congestion: 'default', or with `media.frameRateFirst` off (mediasoup's layer choice alone). */
  server?: ServerVariant;
}

export type ServerVariant = 'default' | 'mediasoup-layers';
const VARIANTS: Record<ServerVariant, Record<string, unknown>> = { 'default': { media: { frameRateFirst: true } }, 'mediasoup-layers': { media: { frameRateFirst: false } } };

export const SCENARIOS: readonly Scenario[] = [
  // A school's saturated Wi-Fi or a 3G fallback: 300 kbit/s each way, a queue of at most 250 ms.
  { name: 'rate-300kbit', rate: { kbit: 300, burstBytes: 4000, latencyMs: 250 } },
  // The same link, the server leaving layer choice to mediasoup (what frame-rate-first changes), in the same run.
  { name: 'rate-300kbit-mediasoup-layers', rate: { kbit: 300, burstBytes: 4000, latencyMs: 250 }, server: 'mediasoup-layers' },
  // A lossy, far link: 5 % of datagrams lost each way at random, 150 ms added round trip.
  { name: 'loss5-rtt150', lossPercent: 5, oneWayDelayMs: 75 },
];

const SAMPLE_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One SFU (a server variant) as the pages reach it: its relay, its pages' forwarder, its URL. */
interface Endpoint {
  server: TestServer;
  relay: UdpRelay;
  forwarder: TcpBalancer;
  url: string;
}

interface Link {
  ns: VethNamespace;
  /** What the relay does to the student's datagrams now (changed between phases). */
  impair: { lossPercent: number; oneWayDelayMs: number };
  /** Datagrams of the student's the relay dropped, per way. */
  relayDrops: { up: number; down: number };
  endpoints: Map<ServerVariant, Endpoint>;
  wrapper: string;
}

async function setUpLink(seed: number, variants: readonly ServerVariant[], log: (line: string) => void): Promise<Link> {
  const created = createVethNamespace('net');
  if ('skip' in created) throw new Error(created.skip);
  const ns = created;
  const rng = new Rng(seed);
  const link: Link = { ns, impair: { lossPercent: 0, oneWayDelayMs: 0 }, relayDrops: { up: 0, down: 0 }, endpoints: new Map(), wrapper: join(tmpdir(), `chromium-${ns.name}.sh`) };
  try {
    for (const v of variants) link.endpoints.set(v, await setUpEndpoint(link, rng, VARIANTS[v], log));
    // Playwright launches this instead of Chromium: the same browser, inside the namespace.
    writeFileSync(link.wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} ${CHROMIUM_BIN} "$@"\n`);
    chmodSync(link.wrapper, 0o755);
    return link;
  } catch (err) {
    await tearDownLink(link);
    throw err;
  }
}

async function setUpEndpoint(link: Link, rng: Rng, overrides: Record<string, unknown>, log: (line: string) => void): Promise<Endpoint> {
  const { ns, impair, relayDrops } = link;
  const cleanups: (() => unknown)[] = [];
  try {
    const student = (address: string) => address === ns.nsAddress;
    // The relay takes the media port on the veth's host address; the SFU takes the same port on loopback.
    let relay: UdpRelay | undefined;
    let port = 0;
    for (let i = 0; i < 20 && !relay; i++) {
      port = 42_000 + Math.floor(Math.random() * 7000);
      relay = await startUdpRelay({ host: ns.hostAddress, port }, { host: '127.0.0.1', port }, {
        drop: (_p, way, client) => {
          if (!student(client.address) || impair.lossPercent <= 0 || rng.u32() / 2 ** 32 >= impair.lossPercent / 100) return false;
          relayDrops[way]++;
          return true;
        },
        delayMs: (client) => (student(client.address) ? impair.oneWayDelayMs : 0),
      }).catch(() => undefined);
    }
    if (!relay) throw new Error('no free UDP port for the relay on the veth');
    const made = relay;
    cleanups.push(() => made.close());
    const server = await startServer({ ...overrides, media: { ...(overrides.media as object | undefined), workers: 1, rtcPort: port, listenIp: '127.0.0.1', announcedIp: ns.hostAddress } });
    cleanups.push(() => server.close());
    const target = new URL(server.url);
    const forwarder = await TcpBalancer.start([Number(target.port)], target.hostname, ns.hostAddress);
    cleanups.push(() => forwarder.close());
    const url = forwarder.url;
    log(`network: namespace ${ns.name}, student ${ns.nsAddress}, SFU ${JSON.stringify(overrides)} and relay on ${ns.hostAddress}:${port}, pages at ${url}`);
    return { relay, forwarder, url, server };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    throw err;
  }
}

async function tearDownLink(link: Link): Promise<void> {
  clearRoot(undefined, link.ns.hostInterface);
  clearRoot(link.ns, nsInterface(link.ns));
  for (const e of link.endpoints.values()) {
    e.forwarder.close();
    await e.server.close();
    await e.relay.close();
  }
  link.ns.remove();
  rmSync(link.wrapper, { force: true });
}

/** Starts the impairment of `s` (true) or ends it (false). Throws when tc cannot shape. */
function impairLink(link: Link, s: Scenario, on: boolean): void {
  if (s.rate) {
    if (on) {
      const why = shapeRate(undefined, link.ns.hostInterface, s.rate) ?? shapeRate(link.ns, nsInterface(link.ns), s.rate);
      if (why) throw new Error(why);
    } else {
      clearRoot(undefined, link.ns.hostInterface);
      clearRoot(link.ns, nsInterface(link.ns));
    }
  }
  link.impair.lossPercent = on ? s.lossPercent ?? 0 : 0;
  link.impair.oneWayDelayMs = on ? s.oneWayDelayMs ?? 0 : 0;
}

/** One direction's counters at one moment, from the sender's outbound audio and the receiver's inbound streams. */
function directionSample(t: number, sentAudio: OutboundStat[], inbound: InboundStat[]): DirectionSample {
  const audio = inbound.find((s) => s.source === 'mic');
  const video = inbound.find((s) => s.source === 'camera');
  return {
    t,
    audioSent: sentAudio[0]?.packetsSent,
    audioReceived: audio?.packetsReceived,
    samples: audio?.totalSamplesReceived,
    concealed: audio?.concealedSamples,
    framesDecoded: video?.framesDecoded,
    frameWidth: video?.frameWidth,
    freezeCount: video?.freezeCount,
    freezeSeconds: video?.totalFreezesDuration,
  };
}

export interface RunResult {
  scenario: string;
  repetition: number;
  /** Student -> clinician (the student's uplink is impaired) and clinician -> student (its downlink). */
  up: DirectionResult;
  down: DirectionResult;
  /** What the impairment did: tbf queue drops on each veth end, the relay's random drops per way. */
  dropped: { tbfToStudent: number; tbfFromStudent: number; relayUp: number; relayDown: number };
  phasesMs: { before: number; impaired: number; after: number };
  loadAverage: number[];
  /** About once a second: the width each receiver decodes (and its frame rate over the last second), what each sender encodes. */
  timeline: TimelinePoint[];
}

interface TimelinePoint {
  t: number;
  up: string;
  down: string;
  clinicianSends: string;
  studentSends: string;
  /** The SFU's side of the student's downlink: its estimate of the available bitrate (kbit/s), the video consumer's layers. */
  studentDownlink: string;
}

/** `<kbit/s> s<spatial>t<temporal>`: the worker's bandwidth estimate for `identity`'s recv transport and its video consumer's current layers. */
async function downlinkSeen(server: TestServer, room: string, identity: string): Promise<string> {
  const p = server.handle.rooms.get(room)?.participants.find((x) => x.identity === identity);
  const transport = p?.recvTransport();
  const video = [...p?.consumers.values() ?? []].find((c) => c.kind === 'video');
  if (!transport || transport.closed) return '-';
  const stats = await transport.getStats().catch(() => []);
  const bwe = stats[0]?.availableOutgoingBitrate;
  const layers = video?.currentLayers;
  return `${bwe === undefined ? '?' : Math.round(bwe / 1000)} ${layers ? `s${layers.spatialLayer}t${layers.temporalLayer ?? '-'}` : 'none'} score ${video?.score.score ?? '-'}`;
}

/** `<width>@<fps>`: the receiver's width now and its decoded frames per second over the last second's samples. */
function widthNow(samples: readonly DirectionSample[]): string {
  const last = samples.at(-1);
  const back = samples.findLast((x) => x.t <= (last?.t ?? 0) - 1000);
  const fps = last && back ? ((last.framesDecoded ?? 0) - (back.framesDecoded ?? 0)) / ((last.t - back.t) / 1000) : 0;
  return `${last?.frameWidth ?? 0}@${Math.round(fps)}`;
}

/** The encodings a sender has on, with their widths: `r0:320 r1:640`. */
function sending(out: readonly OutboundStat[]): string {
  return out.filter((o) => o.active !== false && (o.frameWidth ?? 0) > 0).map((o) => `${o.rid ?? 'svc'}:${o.frameWidth}`).join(' ');
}

async function runOnce(link: Link, endpoint: Endpoint, browsers: { clinician: Browser; student: Browser }, s: Scenario, repetition: number, secs: { warmUp: number; before: number; impaired: number; after: number }, log: (line: string) => void): Promise<RunResult> {
  const room = `net-${s.name}-${repetition}`;
  const policy = endpoint.server.handle.config.consent.policyVersions[0]!;
  const pages: ClientPage[] = [];
  try {
    // A window where the other participant's stage tile is about 600x340 px: the 640-px layer (layer 1).
    const context = { viewport: { width: 960, height: 640 } };
    pages.push(await openClient(browsers.clinician, endpoint.url, 'clinician', { token: endpoint.server.mint(room, 'clin', 'clinician'), policy }, { context }));
    pages.push(await openClient(browsers.student, endpoint.url, 'student', { token: endpoint.server.mint(room, 'kid', 'student'), policy }, { context }));
    const [clinician, student] = pages as [ClientPage, ClientPage];
    for (const p of pages) {
      await pollUntil(`${p.name} decoding video and receiving audio`, () => p.inboundStats(),
        (xs) => xs.some((x) => x.kind === 'video' && (x.framesDecoded ?? 0) > 0) && xs.some((x) => x.kind === 'audio' && x.packetsReceived > 0),
        { timeoutMs: 30_000, context: () => p.logs.slice(-30).join('\n') });
    }
    await sleep(secs.warmUp * 1000);
    const timeline: TimelinePoint[] = [];
    const up: DirectionSample[] = [];
    const down: DirectionSample[] = [];
    const t0 = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const next = performance.now() + SAMPLE_MS;
        const [clinIn, clinOut, studIn, studOut, clinVideo, studVideo] = await Promise.all([clinician.inboundStats(), clinician.outboundStats('audio'),
          student.inboundStats(), student.outboundStats('audio'), clinician.outboundStats(), student.outboundStats()]);
        const t = performance.now() - t0;
        up.push(directionSample(t, studOut, clinIn));
        down.push(directionSample(t, clinOut, studIn));
        if (t >= timeline.length * 1000) {
          timeline.push({ t: Math.round(t), up: widthNow(up), down: widthNow(down), clinicianSends: sending(clinVideo), studentSends: sending(studVideo), studentDownlink: await downlinkSeen(endpoint.server, room, 'kid') });
        }
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
    const drops0 = { to: rootDrops(undefined, link.ns.hostInterface), from: rootDrops(link.ns, nsInterface(link.ns)), ...link.relayDrops };
    await sleep(secs.before * 1000);
    const impairedFrom = performance.now() - t0;
    impairLink(link, s, true);
    await sleep(secs.impaired * 1000);
    // tbf's counters go with its qdisc: read them before it is removed.
    const dropped = {
      tbfToStudent: (rootDrops(undefined, link.ns.hostInterface) || 0),
      tbfFromStudent: (rootDrops(link.ns, nsInterface(link.ns)) || 0),
      relayUp: link.relayDrops.up - drops0.up,
      relayDown: link.relayDrops.down - drops0.down,
    };
    impairLink(link, s, false);
    const impairedTo = performance.now() - t0;
    await sleep(secs.after * 1000);
    sampling = false;
    await sampler;
    const end = performance.now() - t0;
    const phases = { before: { from: 0, to: impairedFrom }, impaired: { from: impairedFrom, to: impairedTo }, after: { from: impairedTo, to: end } };
    const result: RunResult = {
      scenario: s.name,
      repetition,
      up: directionResult(up, phases),
      down: directionResult(down, phases),
      dropped,
      phasesMs: { before: Math.round(impairedFrom), impaired: Math.round(impairedTo - impairedFrom), after: Math.round(end - impairedTo) },
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
      timeline,
    };
    log(`network: ${s.name} #${repetition}: up ${brief(result.up)}; down ${brief(result.down)}; dropped ${JSON.stringify(dropped)}`);
    return result;
  } finally {
    for (const p of pages) await p.page.context().close().catch(() => undefined);
  }
}

const brief = (d: DirectionResult) => `audio ${d.impaired.audio.deliveredPercent}% delivered, ${d.impaired.audio.concealedPercent}% concealed; `
  + `width ${d.before.width} -> ${d.impaired.width} after ${d.layerDownMs} ms, back in ${d.recoveredMs} ms; `
  + `longest stall ${d.impaired.video.longestStallMs} / ${d.after.video.longestStallMs} ms; under 10 fps ${d.impaired.video.lowFpsSeconds} / ${d.after.video.lowFpsSeconds} s; fps ${d.before.video.fps} / ${d.impaired.video.fps} / ${d.after.video.fps}`;

/** The figures of one direction of one scenario over its repetitions: median and range. */
function summarize(runs: readonly DirectionResult[]) {
  const f = (pick: (d: DirectionResult) => number | null) => spread(runs.map(pick));
  return {
    audioDeliveredPercentImpaired: f((d) => d.impaired.audio.deliveredPercent),
    audioConcealedPercentImpaired: f((d) => d.impaired.audio.concealedPercent),
    audioConcealedPercentBefore: f((d) => d.before.audio.concealedPercent),
    widthBefore: f((d) => d.before.width),
    widthImpaired: f((d) => d.impaired.width),
    layerDownMs: f((d) => d.layerDownMs),
    recoveredMs: f((d) => d.recoveredMs),
    fpsBefore: f((d) => d.before.video.fps),
    fpsImpaired: f((d) => d.impaired.video.fps),
    longestStallMsImpaired: f((d) => d.impaired.video.longestStallMs),
    lowFpsSecondsImpaired: f((d) => d.impaired.video.lowFpsSeconds),
    lowFpsSecondsAfter: f((d) => d.after.video.lowFpsSeconds),
    longestStallMsAfter: f((d) => d.after.video.longestStallMs),
    frozenSecondsImpaired: f((d) => d.impaired.video.frozenSeconds),
  };
}

export interface NetworkBenchOptions {
  repetitions: number;
  warmUpSeconds: number;
  beforeSeconds: number;
  impairedSeconds: number;
  afterSeconds: number;
  /** Scenario names to run (default: all). */
  only?: readonly string[];
  seed?: number;
  log?: (line: string) => void;
}

export async function networkBench(opts: NetworkBenchOptions) {
  const log = opts.log ?? (() => undefined);
  const unavailable = !chromiumAvailable() ? `Chromium is not installed (${CHROMIUM_BIN})` : netnsUnavailable();
  if (unavailable) return { bench: 'network', skipped: unavailable };
  const build = spawnSync(process.execPath, ['scripts/build-client.mjs'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`client build failed:\n${build.stdout}${build.stderr}`);
  const seed = opts.seed ?? 14;
  const scenarios = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.name));
  const variants = [...new Set(scenarios.map((s) => s.server ?? 'default'))];
  const link = await setUpLink(seed, variants, log);
  const browsers: Partial<Record<'clinician' | 'student', Browser>> = {};
  const runs: RunResult[] = [];
  try {
    // Both browsers: a person's Chromium (no loopback or ICE flags), autoplay allowed (audio plays
    // out, so concealment is counted), the pages' plain-HTTP origin treated as secure (camera).
    const origins = [...link.endpoints.values()].map((e) => e.url).join(',');
    const args = [...STOCK_CHROMIUM_FLAGS, '--autoplay-policy=no-user-gesture-required', `--unsafely-treat-insecure-origin-as-secure=${origins}`];
    browsers.clinician = await chromium.launch({ executablePath: CHROMIUM_BIN, args, timeout: 30_000 });
    browsers.student = await chromium.launch({ executablePath: link.wrapper, args, timeout: 30_000 });
    const secs = { warmUp: opts.warmUpSeconds, before: opts.beforeSeconds, impaired: opts.impairedSeconds, after: opts.afterSeconds };
    for (let rep = 1; rep <= opts.repetitions; rep++) {
      for (const s of scenarios) runs.push(await runOnce(link, link.endpoints.get(s.server ?? 'default')!, browsers as Required<typeof browsers>, s, rep, secs, log));
    }
  } finally {
    await browsers.clinician?.close();
    await browsers.student?.close();
    await tearDownLink(link);
  }
  return {
    seed,
    sampleMs: SAMPLE_MS,
    phaseSeconds: { warmUp: opts.warmUpSeconds, before: opts.beforeSeconds, impaired: opts.impairedSeconds, after: opts.afterSeconds },
    scenarios: Object.fromEntries(scenarios.map((s) => {
      const mine = runs.filter((r) => r.scenario === s.name);
      return [s.name, { impairment: s, summary: { up: summarize(mine.map((r) => r.up)), down: summarize(mine.map((r) => r.down)) }, runs: mine }];
    })),
  };
}
