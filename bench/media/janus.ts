/**
 * The peer SFU reference: Janus (Debian's 1.1.2) forwarding the same top-layer RTP to N receivers,
 * pinned to the worker's core, with the generator and sink on the other core.
 *
 * Path: a VideoRoom "remote publisher" (`add_remote_publisher`: plain RTP in on one UDP port,
 * SSRC 1000 = the remote-publisher base SSRC for mindex 0) and N `rtp_forward` forwarders of its
 * video stream to the counting sink, plain or SRTP (AES_CM_128_HMAC_SHA1_80, one SDES key per
 * forwarder). Receive once, send N: no ICE, DTLS or WebRTC subscriber machinery on either side,
 * so this is Janus's leanest forwarding path, the counterpart of our PlainTransport consumers.
 *
 * Janus runs from a config written to a temp directory: only the VideoRoom plugin and the HTTP
 * transport (127.0.0.1, random port, admin API off), no STUN/TURN, ICE gathering on `lo` only,
 * event handlers and loggers off. The process is killed in `finally`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuSeconds } from '../../src/media/worker-cpu.ts';
import { topLayerOf, Vp8SimulcastGenerator } from '../lib/rtp-generator.ts';
import { pin } from '../lib/machine.ts';
import { CAMERA, FANOUT_STEPS, fanout } from './fanout.ts';
import { CountingSink, percentile } from './sink.ts';

/** Debian's plugin directory, /usr/lib/<multiarch>/janus (x86_64-linux-gnu here). */
const LIB = (() => {
  try {
    const arch = readdirSync('/usr/lib').find((d) => d.endsWith('-linux-gnu') && existsSync(`/usr/lib/${d}/janus/plugins`));
    return `/usr/lib/${arch ?? 'x86_64-linux-gnu'}/janus`;
  } catch {
    return '/usr/lib/x86_64-linux-gnu/janus';
  }
})();
/** REMOTE_PUBLISHER_BASE_SSRC in janus_videoroom.c: a remote publisher's stream at mindex m, substream s arrives as SSRC 1000 + 10m + s. */
const REMOTE_SSRC = 1000;
const ROOM = 4242;
const PUBLISHER = 7;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface JanusResult {
  readonly consumers: number;
  readonly srtp: boolean;
  readonly seconds: number;
  readonly forwardedPps: number;
  readonly usPerPacket: number;
  readonly cpuPercent: number;
  readonly loss: number;
  /** The libsrtp Janus loaded (from /proc/<pid>/maps) and the crypto it runs on. */
  readonly srtpLibrary: string;
  readonly srtpCrypto: string;
  readonly latencyP50Ms?: number;
  readonly latencyP99Ms?: number;
}

/** The installed Janus version ("1.1.2"), or undefined when janus or its plugins are not installed. */
export function janusVersion(): string | undefined {
  if (!existsSync(`${LIB}/plugins/libjanus_videoroom.so`) || !existsSync(`${LIB}/transports/libjanus_http.so`)) return undefined;
  const r = spawnSync('janus', ['--help'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return undefined;
  return /Janus version:\s*\d+\s*\(([^)]+)\)/.exec(`${r.stdout}${r.stderr}`)?.[1];
}

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Writes the minimal loopback-only configuration; returns the path of janus.jcfg. */
function writeConfig(dir: string, httpPort: number): string {
  for (const sub of ['plugins', 'transports', 'none']) mkdirSync(join(dir, sub));
  symlinkSync(`${LIB}/plugins/libjanus_videoroom.so`, join(dir, 'plugins', 'libjanus_videoroom.so'));
  symlinkSync(`${LIB}/transports/libjanus_http.so`, join(dir, 'transports', 'libjanus_http.so'));
  writeFileSync(join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${join(dir, 'plugins')}"
  transports_folder = "${join(dir, 'transports')}"
  events_folder = "${join(dir, 'none')}"
  loggers_folder = "${join(dir, 'none')}"
  interface = "127.0.0.1"
  debug_level = 3
  session_timeout = 0
}
media: { rtp_port_range = "40000-40999" }
nat: { ice_enforce_list = "lo" ignore_mdns = true }
plugins: {}
transports: {}
loggers: {}
events: { broadcast = false }
`);
  writeFileSync(join(dir, 'janus.transport.http.jcfg'), `general: { json = "plain" base_path = "/janus" http = true port = ${httpPort} ip = "127.0.0.1" https = false }
admin: { admin_http = false admin_https = false }
`);
  // No admin_key: rooms and forwarders can be created over the API (loopback only).
  writeFileSync(join(dir, 'janus.plugin.videoroom.jcfg'), 'general: { lock_rtp_forward = false events = false }\n');
  return join(dir, 'janus.jcfg');
}

/** A minimal client of the Janus HTTP API: one session, one VideoRoom handle. */
class JanusHttp {
  readonly #base: string;
  #tx = 0;
  #path = '';
  constructor(port: number) {
    this.#base = `http://127.0.0.1:${port}/janus`;
  }

  async #post(path: string, body: object): Promise<Record<string, any>> {
    const res = await fetch(`${this.#base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, transaction: `t${++this.#tx}` }), signal: AbortSignal.timeout(5000) });
    const json = (await res.json()) as Record<string, any>;
    if (json.janus === 'error') throw new Error(`janus: ${JSON.stringify(json.error)}`);
    return json;
  }

  async attach(): Promise<void> {
    const session = await this.#post('', { janus: 'create' });
    const handle = await this.#post(`/${session.data.id}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' });
    this.#path = `/${session.data.id}/${handle.data.id}`;
  }

  /** A synchronous VideoRoom request; returns the plugin's data (throws on its error). */
  async videoroom(body: object): Promise<Record<string, any>> {
    const r = await this.#post(this.#path, { janus: 'message', body });
    const data = r.plugindata?.data as Record<string, any> | undefined;
    if (!data || data.error) throw new Error(`videoroom: ${JSON.stringify(data ?? r)}`);
    return data;
  }
}

async function waitForHttp(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`janus exited with ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/janus/info`, { signal: AbortSignal.timeout(500) });
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error('janus did not start listening within the time limit');
}

async function stopJanus(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/**
 * Janus 1 -> N: its CPU (all threads, /proc) per forwarded packet over a `seconds` window, the
 * forwarded rate, loss and (without SRTP) latency, with the same top-layer stream the fan-out uses.
 */
export async function janusFanout(opts: { consumers: number; seconds: number; srtp: boolean; srtpLibDir?: string }): Promise<JanusResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-janus-'));
  const httpPort = await freeTcpPort();
  const env = opts.srtpLibDir ? { ...process.env, LD_LIBRARY_PATH: opts.srtpLibDir } : process.env;
  const child = spawn('janus', ['-C', writeConfig(dir, httpPort), '-F', dir, '-o'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const sink = new CountingSink();
  const gen = new Vp8SimulcastGenerator({ ssrcs: [REMOTE_SSRC], payloadType: 101 });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    pin(child.pid!, 0);
    pin(process.pid, 1);
    await waitForHttp(httpPort, child, 10_000);
    const srtpLib = loadedSrtp(child.pid!);
    const api = new JanusHttp(httpPort);
    await api.attach();
    // A lean room: no header extensions negotiated or parsed, no periodic FIR.
    await api.videoroom({ request: 'create', room: ROOM, publishers: 1, videocodec: 'vp8', fir_freq: 0, audiolevel_ext: false, videoorient_ext: false, playoutdelay_ext: false, transport_wide_cc_ext: false });
    const pub = await api.videoroom({ request: 'add_remote_publisher', room: ROOM, id: PUBLISHER, iface: '127.0.0.1', port: 0, streams: [{ type: 'video', mindex: 0, mid: '0', codec: 'vp8' }] });
    const sinkPort = await sink.bind(!opts.srtp);
    for (let i = 0; i < opts.consumers; i++) {
      const srtp = opts.srtp ? { srtp_suite: 80, srtp_crypto: randomBytes(30).toString('base64') } : {};
      await api.videoroom({ request: 'rtp_forward', room: ROOM, publisher_id: PUBLISHER, host: '127.0.0.1', ...srtp, streams: [{ mid: '0', port: sinkPort }] });
    }
    await gen.bind();
    gen.start({ address: '127.0.0.1', port: pub.port as number }, 2000, topLayerOf(CAMERA));
    await sleep(1000);

    const cpu0 = (await processCpuSeconds(child.pid!)) ?? 0;
    const sent0 = gen.sent[0]!;
    const recv0 = sink.packets;
    sink.latenciesMs.length = 0;
    const t0 = performance.now();
    await sleep(opts.seconds * 1000);
    const cpu1 = (await processCpuSeconds(child.pid!)) ?? 0;
    const elapsed = (performance.now() - t0) / 1000;
    const sent = gen.sent[0]! - sent0;
    gen.stop();
    await sleep(200); // drain packets in flight
    const received = sink.packets - recv0;
    return {
      consumers: opts.consumers, srtp: opts.srtp, seconds: Math.round(elapsed * 10) / 10,
      forwardedPps: Math.round(received / elapsed),
      usPerPacket: round2(((cpu1 - cpu0) * 1e6) / Math.max(1, received)),
      cpuPercent: round2(((cpu1 - cpu0) / elapsed) * 100),
      loss: round4(Math.max(0, 1 - received / Math.max(1, sent * opts.consumers))),
      ...srtpLib,
      ...(opts.srtp ? {} : { latencyP50Ms: round2(percentile(sink.latenciesMs, 50)), latencyP99Ms: round2(percentile(sink.latenciesMs, 99)) }),
    };
  } finally {
    try {
      gen.stop(); // idempotent enough: a second close throws, which is all it does
    } catch { /* already stopped */ }
    sink.close();
    await stopJanus(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round4 = (n: number) => Math.round(n * 10000) / 10000;

/** The libsrtp a running process has mapped, and the crypto library that libsrtp links: "nss", "openssl" or "builtin". */
function loadedSrtp(pid: number): { srtpLibrary: string; srtpCrypto: string } {
  let lib: string | undefined;
  try {
    lib = /\s(\/\S*libsrtp2\.so[.\d]*)$/m.exec(readFileSync(`/proc/${pid}/maps`, 'utf8'))?.[1];
  } catch { /* process gone */ }
  if (!lib) return { srtpLibrary: 'unknown', srtpCrypto: 'unknown' };
  const deps = spawnSync('ldd', [lib], { encoding: 'utf8' }).stdout ?? '';
  return { srtpLibrary: lib, srtpCrypto: deps.includes('libnss3') ? 'nss' : deps.includes('libcrypto') ? 'openssl' : 'builtin' };
}

const cacheDir = () => process.env.SFU_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'telepractice-sfu');

/**
 * Debian's libsrtp2 (what Janus loads as shipped) runs its AES on NSS, which costs several us per
 * packet more than OpenSSL here (shared/notes/media-bench.md); our worker's libsrtp is built on
 * OpenSSL. For a like-for-like SRTP figure this builds the same libsrtp 2.5.0 source our worker
 * uses (the tarball the worker setup caches) as a shared library on OpenSSL, once (about 20 s),
 * cached, for Janus via LD_LIBRARY_PATH. Undefined when the tarball or the toolchain is missing.
 */
function opensslSrtpDir(log: (line: string) => void): string | undefined {
  const dir = join(cacheDir(), 'janus-libsrtp-2.5.0-openssl');
  if (existsSync(join(dir, 'libsrtp2.so.1'))) return dir;
  const tarball = join(cacheDir(), 'mediasoup-worker', 'libsrtp-2.5.0.tar.gz');
  if (!existsSync(tarball)) return undefined;
  log(`janus: building libsrtp 2.5.0 on OpenSSL as a shared library (configure --enable-openssl; make shared_library), once, into ${dir}`);
  const work = mkdtempSync(join(tmpdir(), 'bench-srtp-'));
  try {
    execFileSync('tar', ['xzf', tarball, '-C', work]);
    const src = join(work, 'libsrtp-2.5.0');
    execFileSync('./configure', ['--enable-openssl'], { cwd: src, stdio: 'ignore' });
    execFileSync('make', ['-j2', 'shared_library'], { cwd: src, stdio: 'ignore' });
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(src, 'libsrtp2.so.1'), join(dir, 'libsrtp2.so.1.tmp'));
    renameSync(join(dir, 'libsrtp2.so.1.tmp'), join(dir, 'libsrtp2.so.1'));
    return dir;
  } catch (err) {
    log(`janus: libsrtp on OpenSSL could not be built (${(err as Error).message.split('\n')[0]}); that variant is skipped`);
    return undefined;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The `janus` bench entry: Janus and our fan-out at the same N, interleaved in the same run:
 * plain RTP, SRTP with the libsrtp Janus loads as shipped (Debian's, on NSS), and SRTP with the
 * same libsrtp build our worker uses (on OpenSSL; compared with our SRTP run just before it).
 * `ratio` = Janus us/packet / our us/packet: above 1, Janus spends more CPU per forwarded packet.
 * Quick: a Janus-only smoke (4 receivers, 1 s). Skipped, with the reason, when Janus is not
 * installed (`apt-get install janus`; npm run bench does not install it).
 */
export async function janusBench(quick: boolean, log: (line: string) => void): Promise<object> {
  const version = janusVersion();
  if (!version) return { skipped: 'janus not installed (Debian: apt-get install janus, 1.1.2 in bookworm); npm run bench does not install it' };
  try {
    return await measure(version, quick, log);
  } catch (err) {
    // Janus installed but not runnable here: say so in the line rather than abort the other benches.
    log(`janus: ${(err as Error).message}`);
    return { janusVersion: version, skipped: `janus run failed: ${(err as Error).message}` };
  }
}

async function measure(version: string, quick: boolean, log: (line: string) => void) {
  const path = 'VideoRoom remote publisher (plain RTP in, top layer) + N rtp_forward forwarders (plain RTP or SRTP out)';
  if (quick) {
    const r = await janusFanout({ consumers: 4, seconds: 1, srtp: false });
    log(`janus 1->4 (smoke): ${r.forwardedPps} pkt/s, ${r.usPerPacket} us/pkt, loss ${r.loss}`);
    return { janusVersion: version, path, consumers: 4, results: [{ mode: 'plain', janus: r }] };
  }
  const consumers = FANOUT_STEPS.at(-1)!; // the media bench's top fan-out step
  const seconds = 6;
  const opensslDir = opensslSrtpDir(log);
  const results = [];
  let oursSrtp: Awaited<ReturnType<typeof fanout>> | undefined;
  const modes = [
    { mode: 'plain', srtp: false },
    { mode: 'srtp', srtp: true },
    ...(opensslDir ? [{ mode: 'srtp-openssl', srtp: true, srtpLibDir: opensslDir }] : []),
  ];
  for (const m of modes) {
    const janus = await janusFanout({ consumers, seconds, srtp: m.srtp, srtpLibDir: m.srtpLibDir });
    const ours = m.mode === 'srtp-openssl' && oursSrtp ? oursSrtp : await fanout({ consumers, seconds, srtp: m.srtp });
    if (m.mode === 'srtp') oursSrtp = ours;
    const ratio = Math.round((janus.usPerPacket / ours.usPerPacket) * 1000) / 1000;
    log(`janus 1->${consumers} ${m.mode} (${janus.srtpCrypto}): ${janus.forwardedPps} pkt/s, ${janus.usPerPacket} us/pkt, CPU ${janus.cpuPercent}%, loss ${janus.loss}; ours ${ours.usPerPacket} us/pkt, loss ${ours.loss}; ratio ${ratio}`);
    results.push({
      mode: m.mode, consumers, janus,
      ours: { usPerPacket: ours.usPerPacket, forwardedPps: ours.forwardedPps, loss: ours.loss, cpuPercent: ours.workerCpuPercent, latencyP50Ms: ours.latencyP50Ms, latencyP99Ms: ours.latencyP99Ms },
      ratio,
    });
  }
  return { janusVersion: version, path, consumers, seconds, results };
}
