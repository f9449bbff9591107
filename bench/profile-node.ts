/**
 * Where the Node side's CPU goes during the signalling bench (joins with consent and location,
 * transports): the V8 sampling profiler (what `node --cpu-prof` records) around `joinBench`, self
 * time summed by function and by module (our src/, each dependency, Node internals, GC/idle).
 * Not part of `npm run bench`; run it by hand: `node bench/profile-node.ts [--rate 50] [--seconds 10]`.
 * Prints one JSON line and writes bench/results/profile-node-<date>.json.
 */
import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { joinBench } from './signalling/joins.ts';
import { machineFacts } from './lib/machine.ts';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i > 0 ? process.argv[i + 1] : fallback);
};
const root = fileURLToPath(new URL('..', import.meta.url));

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 500 });
await session.post('Profiler.start');
const bench = await joinBench({ ratePerSecond: arg('rate', '50'), seconds: arg('seconds', '10'), roomSize: 2 });
const { profile } = await session.post('Profiler.stop') as { profile: { nodes: ProfileNode[] } };
session.disconnect();

/** Which part of the program a frame belongs to. */
function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const path = url.replace(/^file:\/\//, '');
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (dep) return dep[1]!;
  return path.startsWith(root) ? path.slice(root.length).split('/').slice(0, 2).join('/') : path;
}

const total = profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0);
const byFunction = new Map<string, number>();
const byModule = new Map<string, number>();
for (const n of profile.nodes) {
  const hits = n.hitCount ?? 0;
  if (hits === 0) continue;
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${url.replace(/^file:\/\//, '').replace(root, '')}:${lineNumber + 1}` : '';
  const fn = `${functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
  const mod = moduleOf(url, functionName);
  byModule.set(mod, (byModule.get(mod) ?? 0) + hits);
}
const pct = (h: number) => Math.round((h / total) * 1000) / 10;
const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, h]) => ({ name, percent: pct(h) }));
const out = {
  bench: 'profile-node', date: new Date().toISOString(), machine: machineFacts(),
  joins: bench.joins, failures: bench.failures, latencyMs: bench.latencyMs,
  byModule: top(byModule, 15), topFunctions: top(byFunction, 20),
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `profile-node-${out.date.slice(0, 10)}.json`), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out)}\n`);
