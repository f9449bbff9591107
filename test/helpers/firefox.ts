import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CHROMIUM_BIN, SAFETY_FORM_FIELDS, REGION_SELECT, chromiumAvailable, sfuClientView, type WatchedClient } from './browser.ts';

// vitest loads only inside a vitest worker (as in browser.ts): useFirefox needs it, the rest does not.
const vitest = await import('vitest').catch(() => undefined);

/** Debian's Firefox ESR (the set-up installs it beside Chromium); puppeteer-core drives it over WebDriver BiDi. */
export const FIREFOX_BIN = process.env.SFU_FIREFOX_BIN ?? '/usr/bin/firefox-esr';

/**
 * Firefox as a person runs it, but with a fake camera and microphone granted without a prompt
 * (`permissions.default.*`, not `media.navigator.permission.disabled`: that also limits ICE to the
 * default-route address). Nothing else is relaxed (test/e2e/stock-browsers.test.ts, issue #14).
 */
export const STOCK_FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.streams.fake': true,
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
};

/**
 * What test/e2e/firefox.test.ts runs: the stock prefs, autoplay allowed, and
 * `media.peerconnection.ice.loopback`: the test servers listen on and announce 127.0.0.1 only, and
 * stock Firefox gathers no loopback candidates and pairs nothing with a remote 127.0.0.1.
 */
export const FIREFOX_PREFS: Record<string, unknown> = {
  ...STOCK_FIREFOX_PREFS,
  'media.autoplay.default': 0,
  'media.peerconnection.ice.loopback': true,
};

export function firefoxAvailable(): boolean {
  return existsSync(FIREFOX_BIN);
}

export function launchFirefox(prefs: Record<string, unknown> = FIREFOX_PREFS): Promise<Browser> {
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX_BIN, headless: true, extraPrefsFirefox: prefs, timeout: 30_000 });
}

/** What a Chromium + Firefox test needs and this machine lacks ("Chromium at <path>", "Firefox at <path>"); empty when both are there. */
export function missingChromiumOrFirefox(): string[] {
  return [chromiumAvailable() ? '' : `Chromium at ${CHROMIUM_BIN}`, firefoxAvailable() ? '' : `Firefox at ${FIREFOX_BIN}`].filter(Boolean);
}

/**
 * For one describe block: launches Firefox (with `prefs`) before its tests and closes it after
 * them. Read `browser` inside the tests.
 */
export function useFirefox(prefs: Record<string, unknown> = FIREFOX_PREFS): { readonly browser: Browser } {
  if (!vitest) throw new Error('useFirefox runs under vitest');
  let browser: Browser | undefined;
  vitest.beforeAll(async () => {
    browser = await launchFirefox(prefs);
  }, 60_000);
  vitest.afterAll(async () => {
    await browser?.close();
  }, 30_000);
  return {
    get browser(): Browser {
      if (!browser) throw new Error('Firefox is not running (read useFirefox().browser inside a test)');
      return browser;
    },
  };
}

/** A Firefox page running the client: the same view of window.sfuClient as the Chromium pages. */
export interface FirefoxClientPage extends WatchedClient {
  readonly page: Page;
}

/**
 * Opens the client at `${baseUrl}/#token=...&policy=...` in a new Firefox page, fills the
 * before-you-join form and clicks Join.
 */
export async function openFirefoxClient(browser: Browser, baseUrl: string, name: string, fragment: { token: string; policy: string }): Promise<FirefoxClientPage> {
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${name} ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[${name} pageerror] ${e instanceof Error ? e.message : String(e)}`));
  page.on('response', (r) => {
    if (r.status() >= 400) logs.push(`[${name} http] ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  await page.goto(`${baseUrl}/#${new URLSearchParams(fragment).toString()}`);
  for (const [selector, value] of SAFETY_FORM_FIELDS) await page.locator(selector).fill(value);
  await page.waitForSelector(REGION_SELECT[0], { visible: true });
  await page.select(REGION_SELECT[0], REGION_SELECT[1]);
  await page.click('#consent-agree');
  await page.click('#join');
  return { name, page, logs, ...sfuClientView((expr) => page.evaluate(expr)) };
}
