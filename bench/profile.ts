/**
 * Where the worker's CPU goes: `perf record` on the mediasoup worker during a fan-out window
 * (1 -> 128 SRTP consumers, 6 s) or during N 1:1 sessions (bench/media/sessions.ts's model with
 * `--sessions N`: its SESSION_MODEL (turn-taking with DTX in 40 ms frames, AEAD_AES_256_GCM) unless `--speech continuous`,
 * `--suite <name>`), then the top symbols by self time, grouped into buckets
 * (kernel network path, SRTP/crypto, mediasoup RTP handling, libuv/other). Not part of
 * `npm run bench` (perf may be missing or forbidden); run it by hand:
 *   node bench/profile.ts [--consumers 128] [--srtp false] [--sessions 300]
 * Prints one JSON line and writes bench/results/profile-<date>.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { types } from 'mediasoup';
import { fanout } from './media/fanout.ts';
import { CONTINUOUS, oneToOne, runStep, SESSION_MODEL } from './media/sessions.ts';
import { machineFacts } from './lib/machine.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const consumers = Number(arg('consumers', '128'));
const srtp = arg('srtp', 'true') !== 'false';
const dir = mkdtempSync(join(tmpdir(), 'sfu-perf-'));
const data = join(dir, 'perf.data');

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  process.stderr.write('perf is not installed (apt-get install linux-perf); nothing to do\n');
  process.exit(0);
}

const record = (pid: number, seconds: number) => new Promise<void>((resolve) => {
  const perf = spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', data, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  perf.on('exit', () => resolve());
});
const sessions = Number(arg('sessions', '0'));
const speech = arg('speech', 'model') === 'continuous' ? CONTINUOUS : SESSION_MODEL.speech;
const suite = arg('suite', 'AEAD_AES_256_GCM') as types.SrtpCryptoSuite;
const WARMUP_MS = 6000;
const result = sessions > 0
  ? await runStep({
    scenario: 'sessions', size: sessions, rooms: oneToOne(sessions), dynacast: true, probes: 4, warmupMs: WARMUP_MS, windowMs: 6000, speech, srtpCryptoSuite: suite,
    // From the end of the warm-up (the C load tool's window starts then at the latest) for 5 s of the 6 s window.
    during: (pid) => new Promise((r) => setTimeout(r, WARMUP_MS)).then(() => record(pid, 5)),
  })
  : await fanout({ consumers, seconds: 6, srtp, during: (pid, seconds) => record(pid, seconds - 1) });
let report = '';
try {
  report = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,symbol', '--stdio', '--percent-limit', '0.3', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (process.env.PROFILE_KEEP) execFileSync('cp', [data, process.env.PROFILE_KEEP]);
} catch (err) {
  process.stderr.write(`perf report failed: ${String(err)}\n`);
}
rmSync(dir, { recursive: true, force: true });

const symbols = [...report.matchAll(/^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/gm)]
  .map(([, pct, dso, sym]) => ({ percent: Number(pct), dso: dso!, symbol: sym!.replace(/(\s+-)+$/, '').trim() }));
const bucket = (s: { dso: string; symbol: string }) =>
  s.dso === '[kernel.kallsyms]' ? 'kernel (UDP send/receive, loopback)'
    : /srtp|aes|hmac|sha1|EVP_|gcm|ctr/i.test(s.symbol) || /libcrypto|libsrtp/.test(s.dso) ? 'SRTP and crypto'
      : /RTC::|Codecs|Rtp|Rtcp|Consumer|Producer|Transport|Router/.test(s.symbol) ? 'mediasoup RTP/RTCP handling'
        : /uv_|epoll|libuv/.test(s.symbol) || /libuv/.test(s.dso) ? 'libuv event loop'
          : 'other (libc, allocation, ...)';
const buckets: Record<string, number> = {};
for (const s of symbols) buckets[bucket(s)] = Math.round(((buckets[bucket(s)] ?? 0) + s.percent) * 10) / 10;
buckets['symbols under 0.3 % each'] = Math.round((100 - symbols.reduce((n, s) => n + s.percent, 0)) * 10) / 10;
const out = {
  bench: 'profile', date: new Date().toISOString(), machine: machineFacts(),
  ...(sessions > 0 ? { sessions, speech, srtpCryptoSuite: suite } : { consumers, srtp }),
  usPerPacket: result.usPerPacket, forwardedPps: result.forwardedPps, workerCpuPercent: result.workerCpuPercent,
  buckets,
  /** Self time in libc's memcpy/memmove (every packet copy: the libsrtp 3 -> 2 layer's one per encrypted packet among them). */
  copyPercent: Math.round(symbols.filter((x) => /memmove|memcpy/.test(x.symbol)).reduce((n, x) => n + x.percent, 0) * 100) / 100,
  top: symbols.slice(0, 20),
};
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, `profile-${out.date.slice(0, 10)}.json`), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out)}\n`);
