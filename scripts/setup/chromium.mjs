// Debian's browsers for the end-to-end tests: Chromium (playwright-core drives it) and Firefox ESR
// (puppeteer-core drives it, test/e2e/firefox.test.ts and stock-browsers.test.ts). No browser download.
import { existsSync } from 'node:fs';
import { aptInstall, say } from './common.mjs';

export function ensureChromium() {
  const bin = process.env.SFU_CHROMIUM_BIN || '/usr/bin/chromium';
  if (existsSync(bin)) {
    say(`Chromium: present (${bin})`);
    return bin;
  }
  aptInstall(['chromium'], 'the end-to-end tests run in Chromium');
  if (!existsSync(bin)) throw new Error(`Chromium installed but ${bin} is missing`);
  say(`Chromium: installed (${bin})`);
  return bin;
}

/** Optional: without it (no root, apt refused) the Firefox e2e tests are skipped with a warning. */
export function ensureFirefox() {
  const bin = process.env.SFU_FIREFOX_BIN || '/usr/bin/firefox-esr';
  if (existsSync(bin)) {
    say(`Firefox: present (${bin})`);
    return;
  }
  try {
    aptInstall(['firefox-esr'], 'two end-to-end tests run Firefox beside Chromium');
    say(existsSync(bin) ? `Firefox: installed (${bin})` : `Firefox: installed but ${bin} is missing; its tests will be skipped`);
  } catch (err) {
    say(`Firefox: not installed, its tests will be skipped (${err.message.split('\n')[0]})`);
  }
}
