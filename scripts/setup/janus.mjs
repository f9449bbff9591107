// Debian's Janus 1.1.2, the peer SFU of the full media bench (bench/media/janus.ts). Optional: without
// it (no root, apt refused) the bench prints a skipped line for Janus and runs the rest.
import { aptInstall, installed, say } from './common.mjs';

export function ensureJanus() {
  if (installed('janus')) {
    say('Janus: present (the peer SFU of the media bench)');
    return;
  }
  try {
    aptInstall(['janus'], 'the full media bench compares our forwarding with Janus in the same run');
    say('Janus: installed');
  } catch (err) {
    say(`Janus: not installed, its bench will be skipped (${err.message.split('\n')[0]})`);
  }
}
