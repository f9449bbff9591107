import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import {
  buildClient, CHROMIUM_BIN, chromiumAvailable, launchChromium, openClient, pollUntil, STOCK_CHROMIUM_FLAGS, waitForMediaFlow, waitForState,
  type WatchedClient,
} from '../helpers/browser.ts';
import { FIREFOX_BIN, firefoxAvailable, launchFirefox, openFirefoxClient, STOCK_FIREFOX_PREFS } from '../helpers/firefox.ts';
import { createVethNamespace, netnsUnavailable, routeDevice, vethNamespaceLeftovers, type VethNamespace } from '../helpers/netns.ts';
import { TcpBalancer } from '../helpers/tcp-balancer.ts';

/**
 * Issue #14, "local development that works in every browser": the real entry point on `npm start`'s
 * media address defaults (no SFU_LISTEN_IP, SFU_ANNOUNCED_IP or config file), and the two demo links
 * it prints opened in stock Chromium (no --allow-loopback-in-peer-connection, no autoplay flag) and
 * stock Firefox (no media.peerconnection.ice.loopback, no autoplay pref): only fake devices and the
 * permission grant. Both decode the other's video and receive their audio.
 *
 * The default announces the host's first non-loopback address (src/media/address.ts). On these
 * machines a test may send only to addresses it created itself (shared/notes/networks-browsers-clients.md),
 * so the server runs inside a network namespace of the test's own, joined to the root namespace by a
 * veth pair: there its only non-loopback address, the one the default must pick, is the veth's. The
 * browsers stay in the root namespace, where that address is reached over the veth only. They load
 * the page through a forwarder on 127.0.0.1 (as a developer opens the banner's 127.0.0.1 link: a
 * secure context, so getUserMedia works without relaxing the browsers), and their media goes straight
 * to the announced address; the test checks that each transport's selected candidate pair names it.
 */
const missing = [
  chromiumAvailable() ? '' : `no Chromium at ${CHROMIUM_BIN} (apt-get install -y chromium, or set SFU_CHROMIUM_BIN)`,
  firefoxAvailable() ? '' : `no Firefox at ${FIREFOX_BIN} (apt-get install -y firefox-esr, or set SFU_FIREFOX_BIN)`,
  netnsUnavailable() ?? '',
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
  let made: VethNamespace | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let forwarder: TcpBalancer | undefined;
  let chromium: ChromiumBrowser | undefined;
  let firefox: FirefoxBrowser | undefined;

  beforeAll(async () => {
    buildClient();
    const ns = createVethNamespace('stock');
    if ('skip' in ns) throw new Error(ns.skip);
    made = ns;
    dataDir = mkdtempSync(join(tmpdir(), 'sfu-stock-'));
    // Each one kept as soon as it is up, so that afterAll closes it if another fails.
    await Promise.all([
      // Inside the namespace, on free ports and one worker; every media address setting is left to
      // the defaults. HTTP listens on the namespace's address (its default, 127.0.0.1, is the
      // namespace's own loopback, out of the browsers' reach).
      startServerProcess({
        SFU_DATA_DIR: dataDir, SFU_HTTP_HOST: ns.nsAddress, SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'warn',
        SFU_DRAIN_TIMEOUT_SECONDS: '1',
        SFU_CONFIG: undefined, SFU_LISTEN_IP: undefined, SFU_ANNOUNCED_IP: undefined, SFU_PUBLIC_URL: undefined,
        SFU_JWT_SECRET: undefined, SFU_JWT_PUBLIC_KEY: undefined,
      }, 30_000, { wrap: ns.exec }).then((s) => { server = s; }),
      launchChromium(STOCK_CHROMIUM_FLAGS).then((b) => { chromium = b; }),
      launchFirefox(STOCK_FIREFOX_PREFS).then((b) => { firefox = b; }),
    ]);
    forwarder = await TcpBalancer.start([Number(new URL(server!.url).port)], ns.nsAddress);
  }, 90_000);

  afterAll(async () => {
    try {
      forwarder?.close();
      const drained = server?.stop().then(() => undefined);
      await Promise.all([chromium?.close(), firefox?.close(), Promise.race([drained, new Promise((r) => setTimeout(r, 10_000))])]);
    } finally {
      // No process may stay in the namespace: deleting its name would leave it (and the veth) alive.
      if (server && server.child.exitCode === null && server.child.signalCode === null) await server.kill();
      made?.remove();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
    if (made) expect(vethNamespaceLeftovers(made)).toEqual([]);
  }, 30_000);

  it('the demo links: Chromium and Firefox each decode the other\'s video and receive their audio, media over the test\'s veth', async () => {
    const net = made!;
    // Everything this test sends leaves the root namespace by the test's veth.
    expect(routeDevice(net.nsAddress)).toBe(net.hostInterface);
    const banner = await pollUntil('the demo links in the banner', async () => server!.output(), (out) => out.includes('student:'), { timeoutMs: 5_000 });
    expect(banner).toContain(`announced to browsers as ${net.nsAddress} (this host's first non-loopback address`);
    const links = Object.fromEntries([...banner.matchAll(/^ {2}(clinician|student):\s+(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(links).sort()).toEqual(['clinician', 'student']);
    expect(links.clinician!.startsWith(`${server!.url}/#`)).toBe(true);

    const [clinician, student] = await Promise.all([
      openClient(chromium!, forwarder!.url, 'clinician (stock Chromium)', fragmentOf(links.clinician!)),
      openFirefoxClient(firefox!, forwarder!.url, 'student (stock Firefox)', fragmentOf(links.student!)),
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
    // Both pages' send and recv transports took the announced address: the namespace's.
    const routes = await Promise.all([clinician.icePaths(), student.icePaths()]);
    for (const r of routes) {
      expect(r.map((x) => `${x.direction} -> ${x.remoteAddress}`).sort()).toEqual([`recv -> ${net.nsAddress}`, `send -> ${net.nsAddress}`]);
    }
    console.log(`[e2e stock browsers] media announced as ${net.nsAddress} (namespace ${net.name}, veth ${net.hostInterface}); routes ${JSON.stringify(routes)}; `
      + `first remote frame after Join: Chromium ${a.firstFrameMs} ms, Firefox ${b.firstFrameMs} ms; `
      + `framesDecoded deltas ${JSON.stringify(a.framesDecodedDeltas)} / ${JSON.stringify(b.framesDecodedDeltas)}; audio packet deltas ${JSON.stringify(a.audioPacketDeltas)} / ${JSON.stringify(b.audioPacketDeltas)}`);
    expect([...clinician.logs, ...student.logs].filter((l) => l.includes('pageerror'))).toEqual([]);
  }, 60_000);
});
