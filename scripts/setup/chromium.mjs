// Debian's Chromium for the end-to-end tests (playwright-core drives it; no browser download).
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
