import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium, openClient, pollUntil, type InboundStat } from '../../test/helpers/browser.ts';
import { startServer } from '../../test/helpers/server.ts';
import { MediaLoad } from '../lib/media-load.ts';
import { pin } from '../lib/machine.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/**
 * The realism check: while a media load keeps the server's only mediasoup worker at
 * `targetPercent`+ of its core (bench/lib/media-load.ts, on that same worker), two headless
 * Chromium pages (the real client, fake camera and microphone) in one room as clinician and
 * student exchange audio and video for `seconds`. Their inbound stats over that window are the
 * result (frames decoded and per second, jitter, packets lost, frame size), next to the same
 * pages' stats over `baselineSeconds` before the load started.
 */
export async function realismBench(opts: { seconds: number; baselineSeconds: number; targetPercent: number; initialConsumers: number; maxConsumers: number; log?: (line: string) => void }) {
  if (!chromiumAvailable()) return { bench: 'realism', skipped: 'Chromium is not installed (SFU_CHROMIUM_BIN or /usr/bin/chromium)' };
  const loadAtStart = loadavg()[0]!;
  // The client bundle (as test/helpers/browser.ts buildClient, but its output goes to the log:
  // stdout carries only the JSON result lines).
  const build = spawnSync(process.execPath, ['scripts/build-client.mjs'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`client build failed:\n${build.stdout}${build.stderr}`);
  opts.log?.(build.stdout.trim());
  const srv = await startServer({ media: { workers: 1 } });
  let media: MediaLoad | undefined;
  let browser: Browser | undefined;
  try {
    // Placement first, so Chromium (started from this process) inherits core 1 in both windows.
    pin(srv.handle.pool.pids[0]!, 0);
    pin(process.pid, 1);
    browser = await launchChromium();
    const room = 'realism';
    const policy = srv.handle.config.consent.policyVersions[0]!;
    const pages = [
      await openClient(browser, srv.url, 'clinician', { token: srv.mint(room, 'clin', 'clinician'), policy }),
      await openClient(browser, srv.url, 'student', { token: srv.mint(room, 'kid', 'student'), policy }),
    ];
    const joinedAt = performance.now();
    const decoding = (s: InboundStat[]) => s.some((x) => x.kind === 'video' && (x.framesDecoded ?? 0) > 0) && s.some((x) => x.kind === 'audio' && x.packetsReceived > 0);
    for (const p of pages) await pollUntil(`${p.name} decoding remote video`, () => p.inboundStats(), decoding, { timeoutMs: 20_000, context: () => p.logs.join('\n') });
    const firstFramesMs = Math.round(performance.now() - joinedAt);
    opts.log?.(`realism: both pages decoding ${firstFramesMs} ms after joining`);
    const window = async (seconds: number, load?: MediaLoad) => {
      const before = await Promise.all(pages.map((p) => p.inboundStats()));
      await load?.beginWindow();
      const t0 = performance.now();
      await sleep(seconds * 1000);
      const elapsed = (performance.now() - t0) / 1000;
      const mediaLoad = await load?.endWindow();
      const after = await Promise.all(pages.map((p) => p.inboundStats()));
      return { seconds: round(elapsed, 1), ...(mediaLoad ? { mediaLoad } : {}), pages: Object.fromEntries(pages.map((p, i) => [p.name, summarize(before[i]!, after[i]!, elapsed)])) };
    };
    // The same pages without the load (a few seconds), then with it.
    const unloaded = await window(opts.baselineSeconds);
    media = await MediaLoad.start(srv.handle.pool, { maxSeconds: 120 });
    await media.calibrate({ initial: opts.initialConsumers, targetPercent: opts.targetPercent, maxConsumers: opts.maxConsumers, stepMs: 1000, maxSteps: 5, budgetMs: 60_000, ...(opts.log ? { log: opts.log } : {}) });
    const underMediaLoad = await window(opts.seconds, media);
    return {
      bench: 'realism',
      firstFramesMs,
      unloaded,
      underMediaLoad,
      loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0]! },
    };
  } finally {
    await browser?.close().catch(() => undefined);
    await media?.stop();
    await srv.close();
  }
}

/** Inbound audio and video over the window: deltas of the counters, the last jitter and size. */
function summarize(before: InboundStat[], after: InboundStat[], seconds: number) {
  const out: Record<string, unknown> = {};
  for (const a of after) {
    const b = before.find((x) => x.id === a.id);
    const lost = (a.packetsLost ?? 0) - (b?.packetsLost ?? 0);
    const received = a.packetsReceived - (b?.packetsReceived ?? 0);
    out[a.kind] = {
      packetsReceived: received,
      packetsLost: lost,
      lossPercent: round((100 * Math.max(0, lost)) / Math.max(1, received + Math.max(0, lost)), 3),
      jitterMs: a.jitter === undefined ? undefined : round(a.jitter * 1000),
      ...(a.kind === 'video' ? {
        framesDecoded: (a.framesDecoded ?? 0) - (b?.framesDecoded ?? 0),
        framesPerSecond: round(((a.framesDecoded ?? 0) - (b?.framesDecoded ?? 0)) / seconds, 1),
        frameWidth: a.frameWidth,
        frameHeight: a.frameHeight,
      } : {}),
    };
  }
  return out;
}
