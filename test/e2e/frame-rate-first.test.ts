import { describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.ts';
import { chromiumFor, openClient, pollUntil, setTile, useServerAndBrowser, waitForState, type ClientPage, type InboundStat } from '../helpers/browser.ts';

/**
 * Frame rate before size (docs/forwarding.md, "Poor links"; measured on shaped links in
 * bench/network): with the subscriber's downlink held to 250 kbit/s (media.maxOutgoingBitrate) and
 * a 640-px tile, the clinician gets the student's 320-px layer at its full frame rate, never the
 * 640-px one at a fraction of it, which is what mediasoup alone climbs to (the second block, the
 * same call with media.frameRateFirst off, shows it does here).
 */
const available = chromiumFor('the frame-rate-first e2e test');

/** Below what the 640-px layer needs at half its frame rate (with headroom and the audio): no trial of it can succeed. */
const DOWNLINK_BPS = 250_000;

interface Seen { width: number; fps: number; layers: string }

async function call(server: TestServer, browser: Parameters<typeof openClient>[0], room: string): Promise<{ pages: ClientPage[]; watch: () => Promise<Seen> }> {
  const link = (identity: string, role: 'clinician' | 'student') => ({ token: server.mint(room, identity, role), policy: server.handle.config.consent.policyVersions[0]! });
  const pages = [await openClient(browser, server.url, 'clinician', link('clin', 'clinician')), await openClient(browser, server.url, 'student', link('kid', 'student'))];
  await Promise.all(pages.map((p) => waitForState(p, 'joined')));
  const [clinician, student] = pages as [ClientPage, ClientPage];
  const studentId = (await student.participantId())!;
  await pollUntil('the clinician to have a tile for the student', () => clinician.remoteParticipants(), (ps) => ps.includes(studentId), { timeoutMs: 10_000 });
  await setTile(clinician, studentId, 640);
  const video = async (): Promise<InboundStat | undefined> => (await clinician.inboundStats()).find((s) => s.kind === 'video' && s.participantId === studentId);
  const consumer = () => server.handle.rooms.get(room)?.participants.find((p) => p.identity === 'clin')?.consumers;
  return {
    pages,
    async watch() {
      const v = await video();
      const c = [...consumer()?.values() ?? []].find((x) => x.kind === 'video');
      return { width: v?.frameWidth ?? 0, fps: v?.framesPerSecond ?? 0, layers: c?.currentLayers ? `s${c.currentLayers.spatialLayer}t${c.currentLayers.temporalLayer}` : 'none' };
    },
  };
}

/** `seconds` of samples, one every 500 ms. */
async function observe(watch: () => Promise<Seen>, seconds: number): Promise<Seen[]> {
  const seen: Seen[] = [];
  for (const end = performance.now() + seconds * 1000; performance.now() < end;) {
    seen.push(await watch());
    await new Promise((r) => setTimeout(r, 500));
  }
  return seen;
}

describe.skipIf(!available)('frame rate before size on a short downlink', () => {
  const env = useServerAndBrowser({ media: { maxOutgoingBitrate: DOWNLINK_BPS, frameRateFirst: true } });

  it('holds the 640-px tile at the 320-px layer with every temporal layer (full frame rate)', async () => {
    const { pages, watch } = await call(env.server, env.browser, 'frf-on');
    try {
      await pollUntil('the student decoded at 320 px, 20+ fps', watch, (s) => s.width === 320 && s.fps >= 20, { timeoutMs: 20_000 });
      const seen = await observe(watch, 8);
      console.log(`[e2e frame-rate-first] on: ${seen.map((s) => `${s.width}@${s.fps} ${s.layers}`).join(', ')}`);
      expect(seen.every((s) => s.width === 320), JSON.stringify(seen)).toBe(true);
      expect(seen.filter((s) => s.layers === 's0t2').length, JSON.stringify(seen)).toBeGreaterThanOrEqual(seen.length - 2);
      const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
      expect(metrics).toMatch(/sfu_consumer_bandwidth_holds_total\{event="hold"\} [1-9]/);
    } finally {
      for (const p of pages) await p.page.context().close();
    }
  }, 60_000);
});

describe.skipIf(!available)('the same downlink with media.frameRateFirst off (mediasoup alone)', () => {
  const env = useServerAndBrowser({ media: { maxOutgoingBitrate: DOWNLINK_BPS, frameRateFirst: false } });

  it('climbs to the 640-px layer at a fraction of its frame rate', async () => {
    const { pages, watch } = await call(env.server, env.browser, 'frf-off');
    try {
      const seen = await observe(watch, 20);
      console.log(`[e2e frame-rate-first] off: ${seen.map((s) => `${s.width}@${s.fps} ${s.layers}`).join(', ')}`);
      expect(seen.some((s) => /^s1t[01]$/.test(s.layers)), JSON.stringify(seen)).toBe(true);
    } finally {
      for (const p of pages) await p.page.context().close();
    }
  }, 60_000);
});
