/**
 * npm run bench:quick  (under a minute: the harness works, the numbers are sane)
 * npm run bench        (the standard set, a few minutes)
 * Prints one JSON result line per bench (media, signalling, panic) and writes
 * bench/results/<bench>-[quick-]<date>.json. Loopback only; every loop is bounded and stops by itself.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fanout, relay, type FanoutResult } from './media/fanout.ts';
import { machineFacts } from './lib/machine.ts';
import { joinBench } from './signalling/joins.ts';
import { panicBench } from './panic/latency.ts';

const quick = process.argv.includes('--quick');
const seconds = quick ? 3 : 10;
const steps = quick ? [4, 16] : [4, 16, 32, 64, 128];
const top = steps.at(-1)!;

const results: FanoutResult[] = [];
for (const consumers of steps) {
  for (const srtp of [false, true]) {
    const r = await fanout({ consumers, seconds, srtp });
    results.push(r);
    process.stderr.write(`fanout 1->${consumers} srtp=${srtp}: ${r.forwardedPps} pkt/s, ${r.usPerPacket} us/pkt, worker ${r.workerCpuPercent}% CPU, loss ${r.loss}\n`);
  }
}
const ref = await relay({ consumers: top, seconds });
process.stderr.write(`relay 1->${top}: ${ref.forwardedPps} pkt/s, ${ref.usPerPacket} us/pkt\n`);
const at = (srtp: boolean) => results.find((r) => r.consumers === top && r.srtp === srtp)!;
const summary = {
  bench: 'media',
  quick,
  date: new Date().toISOString(),
  machine: machineFacts(),
  results,
  relay: { consumers: top, ...ref },
  efficiency: Math.round((ref.usPerPacket / at(false).usPerPacket) * 1000) / 1000,
  srtpEfficiency: Math.round((ref.usPerPacket / at(true).usPerPacket) * 1000) / 1000,
  notReportedYet: ['overheadVsRawMediasoup', 'sessionsPerCore', 'consumersPerCore', 'janus', 'browser realism check'],
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const emit = (name: string, result: object) => {
  writeFileSync(`${dir}${name}-${quick ? 'quick-' : ''}${summary.date.slice(0, 10)}.json`, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
};
emit('media', summary);
emit('signalling', { quick, machine: summary.machine, ...(await joinBench({ ratePerSecond: quick ? 20 : 50, seconds: quick ? 2 : 10, roomSize: 2 })) });
emit('panic', { quick, machine: summary.machine, ...(await panicBench({ raises: quick ? 10 : 100, intervalMs: quick ? 20 : 50 })) });
