import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { resolveMediaAddress } from '../../src/media/address.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import {
  buildClient, CHROMIUM_BIN, chromiumAvailable, launchChromium, openClient, pollUntil, STOCK_CHROMIUM_FLAGS, waitForMediaFlow, waitForState,
  type WatchedClient,
} from '../helpers/browser.ts';
import { FIREFOX_BIN, firefoxAvailable, launchFirefox, openFirefoxClient, STOCK_FIREFOX_PREFS } from '../helpers/firefox.ts';

/**
 * Issue #14, "local development that works in every browser": the real entry point on `npm start`'s
 * media address defaults (no SFU_LISTEN_IP, SFU_ANNOUNCED_IP or config file), and the two demo links
 * it prints opened in stock Chromium (no --allow-loopback-in-peer-connection, no autoplay flag) and
 * stock Firefox (no media.peerconnection.ice.loopback, no autoplay pref): only fake devices and the
 * permission grant. Both decode the other's video and receive their audio.
 * The default announces the host's first non-loopback address (src/media/address.ts); a host without
 * one cannot pass this, and the test says so and skips.
 */
const expected = resolveMediaAddress('0.0.0.0', '');
const missing = [
  chromiumAvailable() ? '' : `no Chromium at ${CHROMIUM_BIN} (apt-get install -y chromium, or set SFU_CHROMIUM_BIN)`,
  firefoxAvailable() ? '' : `no Firefox at ${FIREFOX_BIN} (apt-get install -y firefox-esr, or set SFU_FIREFOX_BIN)`,
  expected.source === 'host-interface' ? '' : 'this host has no non-loopback network interface, so the default announces 127.0.0.1, which stock Firefox does not use',
].filter(Boolean);
if (missing.length > 0) {
  console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING the stock Firefox + stock Chromium test against npm start defaults:\n!! ${missing.join('\n!! ')}\n${'!'.repeat(78)}\n`);
}

/** The fragment of a demo link the banner printed: #token=...&policy=... */
function fragmentOf(link: string): { token: string; policy: string } {
  const hash = new URLSearchParams(new URL(link).hash.slice(1));
  return { token: hash.get('token')!, policy: hash.get('policy')! };
}

describe.skipIf(missing.length > 0)('npm start defaults with stock browsers on the same machine', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  let chromium: ChromiumBrowser | undefined;
  let firefox: FirefoxBrowser | undefined;

  beforeAll(async () => {
    buildClient();
    dataDir = mkdtempSync(join(tmpdir(), 'sfu-stock-'));
    [server, chromium, firefox] = await Promise.all([
      // Free ports and one worker; every media address setting is left to the defaults.
      startServerProcess({
        SFU_DATA_DIR: dataDir, SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'warn', SFU_DRAIN_TIMEOUT_SECONDS: '1',
        SFU_CONFIG: undefined, SFU_LISTEN_IP: undefined, SFU_ANNOUNCED_IP: undefined, SFU_HTTP_HOST: undefined, SFU_PUBLIC_URL: undefined,
        SFU_JWT_SECRET: undefined, SFU_JWT_PUBLIC_KEY: undefined,
      }),
      launchChromium(STOCK_CHROMIUM_FLAGS),
      launchFirefox(STOCK_FIREFOX_PREFS),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([chromium?.close(), firefox?.close(), server?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('the demo links: Chromium and Firefox each decode the other\'s video and receive their audio', async () => {
    const banner = await pollUntil('the demo links in the banner', async () => server!.output(), (out) => out.includes('student:'), { timeoutMs: 5_000 });
    expect(banner).toContain(`announced to browsers as ${expected.announcedIp} (this host's first non-loopback address`);
    const links = Object.fromEntries([...banner.matchAll(/^ {2}(clinician|student):\s+(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(links).sort()).toEqual(['clinician', 'student']);

    const [clinician, student] = await Promise.all([
      openClient(chromium!, server!.url, 'clinician (stock Chromium)', fragmentOf(links.clinician!)),
      openFirefoxClient(firefox!, server!.url, 'student (stock Firefox)', fragmentOf(links.student!)),
    ]);
    await Promise.all([waitForState(clinician, 'joined'), waitForState(student, 'joined', 20_000)]);
    const [a, b] = await Promise.all([waitForMediaFlow(clinician, { timeoutMs: 20_000 }), waitForMediaFlow(student, { timeoutMs: 20_000 })]);

    const other = { [await clinician.participantId() ?? '']: 'clinician', [await student.participantId() ?? '']: 'student' };
    const kinds = async (c: WatchedClient) => (await c.inboundStats()).map((s) => `${other[s.participantId] ?? '?'}:${s.kind}`).sort();
    expect(await kinds(clinician)).toEqual(['student:audio', 'student:video']);
    expect(await kinds(student)).toEqual(['clinician:audio', 'clinician:video']);
    for (const flow of [a, b]) {
      expect(flow.framesDecodedDeltas.every((d) => d > 0)).toBe(true);
      expect(flow.audioPacketDeltas.every((d) => d > 0)).toBe(true);
    }
    console.log(`[e2e stock browsers] media announced as ${expected.announcedIp}; first remote frame after Join: Chromium ${a.firstFrameMs} ms, Firefox ${b.firstFrameMs} ms; `
      + `framesDecoded deltas ${JSON.stringify(a.framesDecodedDeltas)} / ${JSON.stringify(b.framesDecodedDeltas)}; audio packet deltas ${JSON.stringify(a.audioPacketDeltas)} / ${JSON.stringify(b.audioPacketDeltas)}`);
    expect([...clinician.logs, ...student.logs].filter((l) => l.includes('pageerror'))).toEqual([]);
  }, 60_000);
});
