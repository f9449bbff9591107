/**
 * After a run: reads that run's result files (bench/results/<name>-<date>.json, or
 * <name>-quick-<date>.json) and writes
 *   bench/results/summary-[quick-]<date>.md       every bench's headline figures as tables
 *   bench/results/media-pps-[quick-]<date>.svg    forwarded packets/s against consumers
 *   bench/results/media-loss-[quick-]<date>.svg   loss against consumers
 *   bench/results/<bench>-latency-cdf-[quick-]<date>.svg   latency CDFs (steps with latencyCdf*)
 * Called at the end of bench/run.ts; also runs alone: node bench/report.ts [--quick] [--date YYYY-MM-DD]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lineChart, type Series } from './lib/svg.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: Json | undefined) => v === null || ['number', 'string', 'boolean'].includes(typeof v);

/** Scalars of `o` as dotted paths (nested objects flattened, short number arrays joined). */
function flatten(o: Obj, prefix = '', out: [string, string][] = []): [string, string][] {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isScalar(v)) out.push([key, String(v)]);
    else if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x === 'number' || typeof x === 'string')) out.push([key, v.join(', ')]);
    else if (isObj(v)) flatten(v, key, out);
  }
  return out;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A table of an array of objects: one row per item, columns = the items' scalar (flattened) fields. */
function arrayTable(items: Obj[]): string {
  const rows = items.map((it) => new Map(flatten(Object.fromEntries(Object.entries(it).filter(([k]) => !k.startsWith('latencyCdf'))) as Obj)));
  const cols = [...new Set(rows.flatMap((r) => [...r.keys()]))].slice(0, 16);
  return [
    `| ${cols.map(cell).join(' | ')} |`,
    `|${cols.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r.get(c) ?? '')).join(' | ')} |`),
  ].join('\n');
}

function benchSection(name: string, r: Obj): string {
  const parts = [`## ${name}`, ''];
  const headline = Object.fromEntries(Object.entries(r).filter(([k, v]) => !['bench', 'quick', 'date', 'machine'].includes(k) && !Array.isArray(v))) as Obj;
  const flat = flatten(headline).filter(([k]) => !/(^|\.)latencyCdf/.test(k));
  if (flat.length) parts.push('| figure | value |', '|---|---|', ...flat.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`), '');
  // Arrays of steps (anywhere in the result) as their own tables.
  for (const { path, items } of objectArrays(r)) parts.push(`**${path}**`, '', arrayTable(items), '');
  return parts.join('\n');
}

/** Every array of objects inside `v`, with its path. */
function objectArrays(v: Json, path = '', out: { path: string; items: Obj[] }[] = []): { path: string; items: Obj[] }[] {
  if (Array.isArray(v)) {
    const items = v.filter(isObj);
    if (items.length && items.length === v.length) out.push({ path, items });
    v.forEach((x, i) => { if (isObj(x)) for (const [k, c] of Object.entries(x)) if (typeof c === 'object' && c !== null) objectArrays(c, `${path}[${i}].${k}`, out); });
  } else if (isObj(v)) {
    for (const [k, c] of Object.entries(v)) if (typeof c === 'object' && c !== null) objectArrays(c, path ? `${path}.${k}` : k, out);
  }
  return out;
}

const num = (v: Json | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Series of forwarded pps (or loss) against consumers from every step array with those fields. */
function consumerSeries(r: Obj, field: 'forwardedPps' | 'loss'): Series[] {
  const groups = new Map<string, [number, number][]>();
  for (const { path, items } of objectArrays(r)) {
    for (const it of items) {
      const x = num(it.consumers);
      const y = num(it[field]);
      if (x === undefined || y === undefined || num(it.forwardedPps) === undefined) continue;
      // One series per step array and scenario (steps of one scenario differ in size and consumers).
      const scenario = typeof it.scenario === 'string' && !path.split(/[.[\]]/).includes(it.scenario) ? it.scenario : '';
      const label = [path, scenario, typeof it.srtp === 'boolean' ? (it.srtp ? 'SRTP' : 'no SRTP') : '', it.dynacast === false ? 'no dynacast' : ''].filter(Boolean).join(' ');
      const pts = groups.get(label) ?? [];
      pts.push([x, field === 'loss' ? y * 100 : y]);
      groups.set(label, pts);
    }
  }
  return [...groups].filter(([, pts]) => pts.length > 0).map(([name, pts]) => ({ name, points: pts.sort((a, b) => a[0] - b[0]) }));
}

/** [ms, fraction] points from latencyCdf in any of its shapes: [ms, fraction] pairs, {p, ms}, or ms at even percentiles. */
export function cdfPoints(v: Json): [number, number][] {
  if (!Array.isArray(v) || v.length === 0) return [];
  if (v.every((x) => typeof x === 'number')) {
    const n = v.length;
    return (v as number[]).map((ms, i) => [ms, n === 1 ? 1 : i / (n - 1)]);
  }
  const pts: [number, number][] = [];
  for (const x of v) {
    if (Array.isArray(x) && typeof x[0] === 'number' && typeof x[1] === 'number') pts.push([x[0], x[1] > 1 ? x[1] / 100 : x[1]]);
    else if (isObj(x) && typeof x.ms === 'number' && typeof x.p === 'number') pts.push([x.ms, x.p > 1 ? x.p / 100 : x.p]);
  }
  return pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

function cdfSeries(v: Json, path = '', out: Series[] = []): Series[] {
  if (Array.isArray(v)) v.forEach((x, i) => cdfSeries(x, `${path}[${i}]`, out));
  else if (isObj(v)) {
    for (const [k, c] of Object.entries(v)) {
      if (k.startsWith('latencyCdf')) {
        const points = cdfPoints(c);
        const label = [typeof v.scenario === 'string' ? v.scenario : path, num(v.size) !== undefined ? `size ${v.size}` : '', num(v.sessions) !== undefined ? `${v.sessions} sessions` : '', num(v.consumers) !== undefined ? `${v.consumers} consumers` : ''].filter(Boolean).join(' ');
        if (points.length) out.push({ name: label || path || k, points });
      } else if (typeof c === 'object' && c !== null) cdfSeries(c, path ? `${path}.${k}` : k, out);
    }
  }
  return out;
}

/** At most `n` series, evenly picked (keeping the first and the last). */
function pick<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]!);
}

export function writeReport(opts: { dir: string; day: string; quick: boolean }): string[] {
  const suffix = `${opts.quick ? 'quick-' : ''}${opts.day}`;
  const files = readdirSync(opts.dir)
    .filter((f) => f.endsWith(`-${suffix}.json`) && (opts.quick || !f.includes('-quick-')))
    .sort();
  const results = files.flatMap((f) => {
    try {
      const r = JSON.parse(readFileSync(`${opts.dir}${f}`, 'utf8')) as Json;
      return isObj(r) ? [{ name: f.slice(0, -`-${suffix}.json`.length), r }] : [];
    } catch {
      return [];
    }
  });
  const written: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(`${opts.dir}${name}`, text);
    written.push(name);
  };
  const svgs: string[] = [];
  const media = results.find((x) => x.name === 'media')?.r;
  if (media) {
    const pps = consumerSeries(media, 'forwardedPps');
    if (pps.length) {
      write(`media-pps-${suffix}.svg`, lineChart({ title: `Forwarded packets/s against consumers (${suffix})`, xLabel: 'consumers', yLabel: 'forwarded packets/s', series: pps }));
      svgs.push(`media-pps-${suffix}.svg`);
      write(`media-loss-${suffix}.svg`, lineChart({ title: `Loss against consumers (${suffix})`, xLabel: 'consumers', yLabel: 'loss (%)', series: consumerSeries(media, 'loss') }));
      svgs.push(`media-loss-${suffix}.svg`);
    }
  }
  for (const { name, r } of results) {
    const series = pick(cdfSeries(r), 8);
    if (!series.length) continue;
    const file = `${name}-latency-cdf-${suffix}.svg`;
    write(file, lineChart({ title: `${name}: added latency CDF (${suffix})`, xLabel: 'ms', yLabel: 'fraction of packets', series, yMin: 0, yMax: 1, step: true }));
    svgs.push(file);
  }
  // Result files of one day may come from different hosts: each distinct machine is named with its benches.
  const machines = new Map<string, string[]>();
  for (const { name, r } of results) {
    if (!isObj(r.machine)) continue;
    const line = flatten(r.machine).map(([k, v]) => `${k} ${v}`).join(', ');
    machines.set(line, [...(machines.get(line) ?? []), name]);
  }
  const machineLines = [...machines].map(([line, names]) => machines.size === 1 ? `Machine: ${line}.` : `Machine (${names.join(', ')}): ${line}.`);
  const md = [
    `# Bench summary ${suffix}`,
    '',
    `Run ${results.map((x) => `${x.name} (${typeof x.r.date === 'string' ? x.r.date : '?'})`).join(', ') || '(no result files)'}.`,
    ...machineLines,
    '',
    ...(svgs.length ? ['Plots: ' + svgs.map((s) => `[${s}](${s})`).join(', '), ''] : []),
    ...results.map(({ name, r }) => benchSection(name, r)),
  ].join('\n');
  write(`summary-${suffix}.md`, md);
  return written;
}

if (import.meta.main) {
  const quick = process.argv.includes('--quick');
  const d = process.argv.indexOf('--date');
  const day = d > 0 ? process.argv[d + 1]! : new Date().toISOString().slice(0, 10);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  for (const f of writeReport({ dir, day, quick })) process.stderr.write(`wrote bench/results/${f}\n`);
}
