/**
 * The load core's generator and sinks for bench/media/sessions.ts. The C tool (loadgen.c, built
 * with gcc into ~/.cache/telepractice-sfu/bench/ and rebuilt when its source changes) batches
 * packets with sendmmsg/recvmmsg: a Node generator and sink on one core top out near 50-80k
 * packets/s, below what the worker forwards at 100+ sessions. Without gcc, an in-process Node
 * version of the same plan runs instead (`tool: 'node'` in the result; its ceiling is the Node one).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { processCpuSeconds } from '../../src/media/worker-cpu.ts';
import { SEND_TIME_MARK, sendTimeOf } from '../lib/rtp-generator.ts';
import { CAMERA } from './fanout.ts';

export interface LoadSender {
  /** The producer transport's port (comedia: it learns this socket's address from the first packet). */
  readonly port: number;
  readonly video?: { readonly pt: number; readonly ssrcs: readonly [number, number, number]; readonly activeLayers: number };
  readonly audio?: {
    readonly pt: number;
    readonly ssrc: number;
    /** Audio frame length (default 20 ms: what browsers send; Opus `ptime`). */
    readonly ptimeMs?: number;
    /** Turn-taking speech with Opus DTX in session `talk.session` (the C tool's TALK_* model). */
    readonly talk?: { readonly session: number; readonly slot: 0 | 1 };
  };
}
export interface LoadConsumer { readonly sink: number; readonly ssrc: number; readonly sourceSsrc: number; readonly probe: boolean }
export interface LoadPlan {
  readonly workerPid: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly senders: readonly LoadSender[];
  readonly consumers: readonly LoadConsumer[];
}
export interface LoadResult {
  readonly tool: 'c' | 'node';
  readonly windowS: number;
  readonly workerCpuS: number;
  readonly loadCpuS: number;
  readonly core0BusyPercent: number;
  readonly core1BusyPercent: number;
  readonly sentMedia: number;
  readonly expectedVideo: number;
  readonly receivedVideo: number;
  readonly expectedAudio: number;
  readonly receivedAudio: number;
  readonly stalledConsumers: number;
  readonly otherReceived: number;
  readonly sinkDrops: number;
  readonly udpRcvbufErrors: number;
  readonly maxLateMs: number;
  readonly lateEvents: number;
  readonly keyframeRequests: number;
  readonly sendErrors: number;
  readonly latencyCount: number;
  readonly latencyCdfMs: number[];
  readonly latencyP99Ms: number;
}
export interface LoadGen {
  readonly tool: 'c' | 'node';
  /** Why the Node fallback runs, when it does. */
  readonly fallbackReason?: string;
  readonly pid: number;
  sinkPorts(n: number): Promise<number[]>;
  /** Sends the plan; the window starts when `ready` resolves or after plan.warmupMs, whichever is first. */
  run(plan: LoadPlan, ready: Promise<void>): Promise<LoadResult>;
  close(): void;
}

const SOURCE = new URL('./loadgen.c', import.meta.url).pathname;

/** Builds (or finds) the C tool; returns its path, or the reason it cannot. */
export function buildLoadGen(): { path: string } | { error: string } {
  const src = readFileSync(SOURCE);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(homedir(), '.cache', 'telepractice-sfu', 'bench');
  const bin = join(dir, `loadgen-${hash}`);
  if (existsSync(bin)) return { path: bin };
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O2', '-o', tmp, SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { error: r.error ? `gcc unavailable (${r.error.message})` : `gcc failed: ${r.stderr.slice(0, 300)}` };
  renameSync(tmp, bin);
  return { path: bin };
}

export async function startLoadGen(): Promise<LoadGen> {
  if (process.env.BENCH_LOADGEN === 'node') return new NodeLoadGen('BENCH_LOADGEN=node');
  const built = buildLoadGen();
  if ('error' in built) return new NodeLoadGen(built.error);
  return new CLoadGen(spawn(built.path, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

class CLoadGen implements LoadGen {
  readonly tool = 'c' as const;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiting: ((line: string) => void) | undefined;
  #stderr = '';

  constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (this.#waiting) { const w = this.#waiting; this.#waiting = undefined; w(l); } else this.#lines.push(l);
    });
    child.stderr.on('data', (d: Buffer) => { this.#stderr += d.toString(); });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  #next(timeoutMs: number): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#waiting = undefined; reject(new Error(`loadgen did not answer: ${this.#stderr}`)); }, timeoutMs);
      this.#waiting = (l) => { clearTimeout(timer); resolve(l); };
      this.#child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`loadgen exited ${code}: ${this.#stderr}`)); });
    });
  }

  async sinkPorts(n: number): Promise<number[]> {
    this.#child.stdin.write(`sinks ${n}\n`);
    return (JSON.parse(await this.#next(5000)) as { sinkPorts: number[] }).sinkPorts;
  }

  async run(plan: LoadPlan, ready: Promise<void>): Promise<LoadResult> {
    const lines = [`plan ${plan.workerPid} ${plan.warmupMs} ${plan.windowMs} ${Math.floor(Math.random() * 1e9)}`];
    for (const s of plan.senders) {
      lines.push(`sender ${s.port}`);
      if (s.video) lines.push(`video ${s.video.pt} ${s.video.activeLayers} ${s.video.ssrcs.join(' ')}`);
      if (s.audio) lines.push(`audio ${s.audio.pt} ${s.audio.ssrc} ${s.audio.ptimeMs ?? 20} ${s.audio.talk ? 1 : 0} ${s.audio.talk?.session ?? 0} ${s.audio.talk?.slot ?? 0}`);
    }
    for (const c of plan.consumers) lines.push(`consumer ${c.sink} ${c.ssrc} ${c.sourceSsrc} ${c.probe ? 1 : 0}`);
    lines.push('go');
    this.#child.stdin.write(`${lines.join('\n')}\n`);
    void ready.then(() => { if (this.#child.exitCode === null) this.#child.stdin.write('start\n'); });
    return JSON.parse(await this.#next(plan.warmupMs + plan.windowMs + 15_000)) as LoadResult;
  }

  close(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}

const { packetsPerFrame: VIDEO_PPF, payloadBytes: VIDEO_PAYLOAD, keyframeFactor: KEY_FACTOR } = CAMERA;
const AUDIO_PAYLOAD = 100;
/** loadgen.c's turn-taking model: an 8 s cycle, each slot talks 3.5 s of it; silence sends a DTX packet every 400 ms. */
const TALK = { cycleMs: 8000, spurtMs: 3500, dtxIntervalMs: 400, dtxPayload: 20 } as const;
const talking = (nowMs: number, phaseMs: number, slot: 0 | 1) => {
  const inCycle = (nowMs + phaseMs) % TALK.cycleMs;
  const start = slot ? TALK.cycleMs / 2 : 0;
  return inCycle >= start && inCycle < start + TALK.spurtMs;
};

interface Track { ssrc: number; pt: number; layer: number; audio: boolean; active: boolean; seq: number; sent: number; forceKey: boolean }
interface Stream {
  socket: Socket; tracks: Track[]; audio: boolean; period: number; due: number; nextKey: number; nextSr: number; ts: number; pictureId: number;
  talk?: { phaseMs: number; slot: 0 | 1; nextDtx: number };
}

/** The same plan in this Node process (the fallback without gcc): timers, one send() per packet. */
class NodeLoadGen implements LoadGen {
  readonly tool = 'node' as const;
  readonly fallbackReason: string;
  readonly pid = process.pid;
  readonly #sinks: Socket[] = [];
  readonly #senders: Socket[] = [];

  constructor(reason: string) {
    this.fallbackReason = reason;
  }

  async sinkPorts(n: number): Promise<number[]> {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      try { s.setRecvBufferSize(1 << 20); } catch { /* capped */ }
      this.#sinks.push(s);
      ports.push((s.address() as { port: number }).port);
    }
    return ports;
  }

  async run(plan: LoadPlan, ready: Promise<void>): Promise<LoadResult> {
    const tracks = new Map<number, Track>();
    const streams: Stream[] = [];
    const start = performance.now();
    for (const s of plan.senders) {
      const socket = createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      socket.connect(s.port, '127.0.0.1');
      await new Promise<void>((r) => socket.once('connect', () => r()));
      this.#senders.push(socket);
      const add = (audio: boolean, list: Track[]) => {
        list.forEach((t) => tracks.set(t.ssrc, t));
        const period = audio ? s.audio?.ptimeMs ?? 20 : 1000 / 30;
        const due = start + Math.random() * period;
        const talk = audio && s.audio?.talk ? { phaseMs: ((s.audio.talk.session * 2654435761) >>> 0) % TALK.cycleMs, slot: s.audio.talk.slot, nextDtx: 0 } : undefined;
        streams.push({ socket, tracks: list, audio, period, due, nextKey: due - Math.random() * 2000, nextSr: due, ts: 0, pictureId: 0, ...(talk ? { talk } : {}) });
      };
      if (s.video) add(false, s.video.ssrcs.map((ssrc, layer) => ({ ssrc, pt: s.video!.pt, layer, audio: false, active: layer < s.video!.activeLayers, seq: 0, sent: 0, forceKey: false })));
      if (s.audio) add(true, [{ ssrc: s.audio.ssrc, pt: s.audio.pt, layer: 0, audio: true, active: true, seq: 0, sent: 0, forceKey: false }]);
      socket.on('message', (msg) => {
        for (let off = 0; off + 4 <= msg.length; off += (msg.readUInt16BE(off + 2) + 1) * 4) {
          const fmt = msg[off]! & 0x1f;
          if (msg[off + 1] === 206 && (fmt === 1 || fmt === 4) && off + (fmt === 1 ? 12 : 16) <= msg.length) {
            const t = tracks.get(msg.readUInt32BE(off + (fmt === 1 ? 8 : 12)));
            if (t) { t.forceKey = true; keyReqs++; }
          }
        }
      });
    }
    const consumers = new Map(plan.consumers.map((c) => [c.ssrc, { ...c, recv: 0, recv0: 0 }]));
    let other = 0;
    let keyReqs = 0;
    let collecting = false;
    const lat: number[] = [];
    for (const sink of this.#sinks) {
      sink.on('message', (msg) => {
        const pt = msg[1]! & 0x7f;
        if (msg.length < 12 || (pt >= 72 && pt <= 79)) { other++; return; }
        const c = consumers.get(msg.readUInt32BE(8));
        if (!c) { other++; return; }
        c.recv++;
        if (c.probe && collecting) {
          const sent = sendTimeOf(msg);
          if (sent !== undefined) lat.push(performance.timeOrigin + performance.now() - sent);
        }
      });
    }
    const send = (st: Stream, t: Track, marker: boolean, payload: Buffer) => {
      const pkt = Buffer.alloc(12 + payload.length);
      pkt[0] = 0x80;
      pkt[1] = (marker ? 0x80 : 0) | t.pt;
      pkt.writeUInt16BE(t.seq, 2);
      t.seq = (t.seq + 1) & 0xffff;
      pkt.writeUInt32BE(st.ts >>> 0, 4);
      pkt.writeUInt32BE(t.ssrc, 8);
      payload.copy(pkt, 12);
      t.sent++;
      st.socket.send(pkt);
    };
    let maxLateMs = 0;
    let lateEvents = 0;
    const tick = () => {
      const now = performance.now();
      const epoch = performance.timeOrigin + now;
      for (const st of streams) {
        if (st.due > now) continue;
        if (collecting) { maxLateMs = Math.max(maxLateMs, now - st.due); if (now - st.due > 5) lateEvents++; }
        st.due = Math.max(st.due + st.period, now - 1000);
        if (st.audio) {
          st.ts = (st.ts + 48 * st.period) >>> 0;
          let bytes = (AUDIO_PAYLOAD * st.period) / 20;
          if (st.talk) {
            if (talking(now, st.talk.phaseMs, st.talk.slot)) st.talk.nextDtx = now + TALK.dtxIntervalMs;
            else if (now < st.talk.nextDtx) continue;
            else { st.talk.nextDtx = now + TALK.dtxIntervalMs; bytes = TALK.dtxPayload; }
          }
          const payload = Buffer.alloc(bytes);
          payload.write(SEND_TIME_MARK, 0, 'latin1');
          payload.writeDoubleBE(epoch, 4);
          send(st, st.tracks[0]!, false, payload);
        } else {
          const periodicKey = now >= st.nextKey;
          if (periodicKey) st.nextKey += 2000;
          st.pictureId = (st.pictureId + 1) & 0x7fff;
          st.ts = (st.ts + 3000) >>> 0;
          for (const t of st.tracks) {
            if (!t.active) continue;
            const key = periodicKey || t.forceKey;
            t.forceKey = false;
            const n = VIDEO_PPF[t.layer]! * (key ? KEY_FACTOR : 1);
            for (let i = 0; i < n; i++) {
              const payload = Buffer.alloc(18 + VIDEO_PAYLOAD[t.layer]!);
              payload[0] = 0x90;
              payload[1] = 0x80;
              payload.writeUInt16BE(0x8000 | st.pictureId, 2);
              payload[4] = key && i === 0 ? 0 : 1;
              payload[5] = t.layer;
              payload.write(SEND_TIME_MARK, 6, 'latin1');
              payload.writeDoubleBE(epoch, 10);
              send(st, t, i === n - 1, payload);
            }
          }
        }
        if (now >= st.nextSr) {
          st.nextSr += 500;
          for (const t of st.tracks) {
            if (!t.active) continue;
            const sr = Buffer.alloc(28);
            sr[0] = 0x80;
            sr[1] = 200;
            sr.writeUInt16BE(6, 2);
            sr.writeUInt32BE(t.ssrc, 4);
            const ms = epoch + 2_208_988_800_000;
            sr.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 8);
            sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, 12);
            sr.writeUInt32BE(st.ts >>> 0, 16);
            sr.writeUInt32BE(t.sent >>> 0, 20);
            sr.writeUInt32BE((t.sent * 100) >>> 0, 24);
            st.socket.send(sr);
          }
        }
      }
    };
    const timer = setInterval(tick, 1);
    const snapshot = async () => ({
      at: performance.now(),
      worker: (await processCpuSeconds(plan.workerPid)) ?? 0,
      self: process.cpuUsage(),
      cores: coreJiffies(),
      sent: [...tracks.values()].map((t) => t.sent),
      recv: [...consumers.values()].map((c) => c.recv),
    });
    try {
      await Promise.race([sleep(plan.warmupMs), ready]);
      const a = await snapshot();
      collecting = true;
      await sleep(plan.windowMs);
      const b = await snapshot();
      collecting = false;
      const trackList = [...tracks.values()];
      const sentDelta = new Map(trackList.map((t, i) => [t.ssrc, b.sent[i]! - a.sent[i]!]));
      let expV = 0, expA = 0, recV = 0, recA = 0, stalled = 0;
      [...consumers.values()].forEach((c, i) => {
        const got = b.recv[i]! - a.recv[i]!;
        const exp = sentDelta.get(c.sourceSsrc) ?? 0;
        if (got === 0 && exp > 0) stalled++;
        if (tracks.get(c.sourceSsrc)?.audio) { expA += exp; recA += got; } else { expV += exp; recV += got; }
      });
      lat.sort((x, y) => x - y);
      const pick = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : -1);
      const busy = (i: number) => (b.cores[i]!.total > a.cores[i]!.total ? (100 * (b.cores[i]!.busy - a.cores[i]!.busy)) / (b.cores[i]!.total - a.cores[i]!.total) : -1);
      const selfCpu = (b.self.user + b.self.system - a.self.user - a.self.system) / 1e6;
      return {
        tool: 'node', windowS: (b.at - a.at) / 1000, workerCpuS: b.worker - a.worker, loadCpuS: selfCpu,
        core0BusyPercent: busy(0), core1BusyPercent: busy(1),
        sentMedia: [...sentDelta.values()].reduce((x, y) => x + y, 0),
        expectedVideo: expV, receivedVideo: recV, expectedAudio: expA, receivedAudio: recA, stalledConsumers: stalled,
        otherReceived: other, sinkDrops: -1, udpRcvbufErrors: -1, maxLateMs, lateEvents, keyframeRequests: keyReqs, sendErrors: 0,
        latencyCount: lat.length, latencyCdfMs: Array.from({ length: 21 }, (_, i) => pick(i * 5)), latencyP99Ms: pick(99),
      };
    } finally {
      clearInterval(timer);
    }
  }

  close(): void {
    for (const s of [...this.#sinks, ...this.#senders]) s.close();
  }
}

function coreJiffies(): { busy: number; total: number }[] {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).map((l) => {
      const v = l.split(/\s+/).slice(1, 9).map(Number);
      const total = v.reduce((x, y) => x + y, 0);
      return { busy: total - v[3]! - v[4]!, total };
    });
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
