import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium, openClient, pollUntil, waitForMediaFlow, type ClientPage } from '../../test/helpers/browser.ts';
import { startServer } from '../../test/helpers/server.ts';
import { RouterWatch } from '../../test/helpers/media-tap.ts';
import { processCpuSeconds } from '../../src/media/worker-cpu.ts';
import type { FrameCryptoStats } from '../../src/client/e2ee-frame-crypto.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

/** CPU seconds of every process below this one whose command is Chromium's (the pages, their GPU and network helpers). */
function chromiumCpuSeconds(): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, { comm: string; seconds: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(f[1]));
      cpu.set(Number(name), { comm, seconds: (Number(f[11]) + Number(f[12])) / 100 });
    } catch { /* gone */ }
  }
  const mine = (pid: number) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, c] of cpu) if (/chrom/i.test(c.comm) && mine(pid)) total += c.seconds;
  return total;
}

/** Packets the router took in (producers) and sent out (consumers) so far, from mediasoup's stats. */
async function routerPackets(watch: RouterWatch): Promise<number> {
  let n = 0;
  for (const p of watch.producers()) {
    if (p.closed) continue;
    for (const s of await p.getStats()) n += s.packetCount ?? 0;
  }
  for (const c of watch.consumers()) {
    if (c.closed) continue;
    for (const s of await c.getStats()) if (s.type === 'outbound-rtp') n += s.packetCount ?? 0;
  }
  return n;
}

/**
 * The cost of end-to-end encryption (issue #16), measured on one call of two headless Chromium
 * pages (clinician and student, fake camera 1280x720 with three simulcast layers, microphone),
 * once with the room's E2EE `off` and once `required`, alternating for `rounds`:
 * - in the pages: the E2EE worker's time per frame encrypted and decrypted (FrameCrypto counters:
 *   the WebCrypto call and the copies, wall time in the worker), and frames per second each way;
 * - the frame crypto alone in each page's worker (500 frames of 1,500 bytes, throwaway key, medians);
 * - the pages' whole Chromium CPU (all Chromium processes of this bench) over the window, in percent
 *   of a core and per packet the pages sent and received;
 * - the mediasoup worker's CPU per packet it handled (producers' packets in + consumers' out), which
 *   E2EE should not change (the SFU forwards the same packets, a few bytes longer).
 */
export async function e2eeCostBench(opts: { seconds: number; rounds: number; log?: (line: string) => void }) {
  if (!chromiumAvailable()) return { bench: 'e2ee', skipped: 'Chromium is not installed (SFU_CHROMIUM_BIN or /usr/bin/chromium)' };
  const build = spawnSync(process.execPath, ['scripts/build-client.mjs'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`client build failed:\n${build.stdout}${build.stderr}`);
  const watch = new RouterWatch();
  const loadAtStart = loadavg()[0]!;
  const runs: Record<string, unknown>[] = [];
  for (let round_ = 0; round_ < opts.rounds; round_++) {
    for (const mode of round_ % 2 === 0 ? ['off', 'required'] as const : ['required', 'off'] as const) {
      runs.push({ round: round_, mode, ...(await oneCall(watch, mode, opts.seconds, opts.log)) });
    }
  }
  const of = (mode: string, key: string) => runs.filter((r) => r.mode === mode).map((r) => r[key] as number).filter((v) => typeof v === 'number');
  const median = (xs: number[]) => {
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length / 2;
    return round(s.length % 2 ? s[Math.floor(m)]! : (s[m - 1]! + s[m]!) / 2, 2);
  };
  const workerOff = median(of('off', 'workerUsPerPacket'));
  const workerOn = median(of('required', 'workerUsPerPacket'));
  const chromeOff = median(of('off', 'chromiumCpuPercent'));
  const chromeOn = median(of('required', 'chromiumCpuPercent'));
  return {
    bench: 'e2ee',
    seconds: opts.seconds,
    rounds: opts.rounds,
    summary: {
      /** Wall time per frame in the workers during the call (includes waiting for the thread on a busy machine). */
      encryptUsPerFrame: median(of('required', 'encryptUsPerFrame')),
      decryptUsPerFrame: median(of('required', 'decryptUsPerFrame')),
      /** The crypto alone, 1,500-byte frames, median of 25 batches of 40 in the page's worker: close to its CPU cost. */
      measuredEncryptUs: median(of('required', 'measuredEncryptUs')),
      measuredDecryptUs: median(of('required', 'measuredDecryptUs')),
      chromiumCpuPercent: { off: chromeOff, required: chromeOn },
      chromiumUsPerPagePacket: { off: median(of('off', 'chromiumUsPerPagePacket')), required: median(of('required', 'chromiumUsPerPagePacket')) },
      workerUsPerPacket: { off: workerOff, required: workerOn, ratio: workerOff && workerOn ? round(workerOn / workerOff, 2) : undefined },
    },
    runs,
    loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0]! },
  };
}

async function oneCall(watch: RouterWatch, mode: 'off' | 'required', seconds: number, log?: (line: string) => void) {
  const srv = await startServer({ media: { workers: 1 }, e2ee: { mode } });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const room = `e2ee-cost-${mode}`;
    const policy = srv.handle.config.consent.policyVersions[0]!;
    const pages: ClientPage[] = [];
    for (const [name, id, role] of [['clinician', 'clin', 'clinician'], ['student', 'kid', 'student']] as const) {
      pages.push(await openClient(browser, srv.url, name, { token: srv.mint(room, id, role), policy }));
      await pollUntil(`${name} joined`, () => pages.at(-1)!.state(), (s) => s === 'joined', { timeoutMs: 20_000 });
    }
    for (const p of pages) await waitForMediaFlow(p, { timeoutMs: 20_000 });
    await sleep(3000); // the top simulcast layer and the bandwidth estimate settle before measuring
    const stats = () => Promise.all(pages.map((p) => p.page.evaluate('window.sfuClient.e2eeStats()') as Promise<FrameCryptoStats | undefined>));
    const workerPid = srv.handle.pool.pids[0]!;
    // Packets the pages sent and received (audio and video): Chromium's CPU per packet evens out bitrate differences between runs.
    const pagePackets = async () => {
      let n = 0;
      for (const p of pages) {
        for (const kind of ['audio', 'video'] as const) for (const o of await p.outboundStats(kind)) n += o.packetsSent;
        for (const i of await p.inboundStats()) n += i.packetsReceived;
      }
      return n;
    };
    const [s0, w0, pk0, pp0, c0] = [await stats(), await processCpuSeconds(workerPid), await routerPackets(watch), await pagePackets(), chromiumCpuSeconds()];
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const [s1, w1, pk1, pp1, c1] = [await stats(), await processCpuSeconds(workerPid), await routerPackets(watch), await pagePackets(), chromiumCpuSeconds()];
    const packets = pk1 - pk0;
    // The frame crypto alone, in each page's worker (throwaway key, 1,000 frames of 1,500 bytes, median of 25 batches).
    const measured = mode === 'required'
      ? await Promise.all(pages.map((p) => p.page.evaluate('window.sfuClient.e2eeMeasure(1000, 1500)') as Promise<{ encryptUs: { median: number }; decryptUs: { median: number } }>))
      : undefined;
    const sum = (ss: (FrameCryptoStats | undefined)[], f: (s: FrameCryptoStats) => number) => ss.reduce((n, s) => n + (s ? f(s) : 0), 0);
    const enc = sum(s1, (s) => s.encrypted) - sum(s0, (s) => s.encrypted);
    const dec = sum(s1, (s) => s.decrypted) - sum(s0, (s) => s.decrypted);
    const encMs = sum(s1, (s) => s.encryptMs) - sum(s0, (s) => s.encryptMs);
    const decMs = sum(s1, (s) => s.decryptMs) - sum(s0, (s) => s.decryptMs);
    const encBytes = sum(s1, (s) => s.encryptedBytes) - sum(s0, (s) => s.encryptedBytes);
    const dropped = sum(s1, (s) => s.dropped.noKey + s.dropped.authFailed + s.dropped.malformed);
    const result = {
      elapsedSeconds: round(elapsed, 1),
      chromiumCpuPercent: round((100 * (c1 - c0)) / elapsed, 1),
      pagePackets: pp1 - pp0,
      chromiumUsPerPagePacket: pp1 > pp0 ? round(((c1 - c0) * 1e6) / (pp1 - pp0), 1) : undefined,
      workerCpuSeconds: w0 !== undefined && w1 !== undefined ? round(w1 - w0, 2) : undefined,
      packets,
      workerUsPerPacket: w0 !== undefined && w1 !== undefined && packets > 0 ? round(((w1 - w0) * 1e6) / packets, 2) : undefined,
      ...(mode === 'required' ? {
        framesEncryptedPerSecond: round(enc / elapsed, 1),
        framesDecryptedPerSecond: round(dec / elapsed, 1),
        encryptUsPerFrame: enc > 0 ? round((encMs * 1000) / enc, 1) : undefined,
        decryptUsPerFrame: dec > 0 ? round((decMs * 1000) / dec, 1) : undefined,
        meanFrameBytes: enc > 0 ? Math.round(encBytes / enc) : undefined,
        droppedTotal: dropped,
        measuredEncryptUs: measured ? Math.max(...measured.map((m) => m.encryptUs.median)) : undefined,
        measuredDecryptUs: measured ? Math.max(...measured.map((m) => m.decryptUs.median)) : undefined,
      } : {}),
    };
    log?.(`e2ee cost (${mode}): ${JSON.stringify(result)}`);
    return result;
  } finally {
    await browser?.close().catch(() => undefined);
    await srv.close();
  }
}
