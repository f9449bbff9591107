import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/telemetry/metrics.ts';

/**
 * The metric tables of docs/operations.md ("Metrics") and docs/safety.md ("Metrics") against what
 * /metrics exports (every metric registered, the cluster's included): each documented name exists
 * with its documented type and label names, and nothing is exported undocumented.
 */
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}.md`, import.meta.url), 'utf8');

/** Label names of a table cell: the backticked words outside parentheses (`role` (`clinician`, ...)). */
function labelNames(cell: string): string[] {
  let s = cell;
  for (let prev = ''; prev !== s;) { prev = s; s = s.replace(/\([^()]*\)/g, ''); }
  return [...s.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).sort();
}

function documented(): Map<string, { type: string; labels: string[] }> {
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const file of ['operations', 'safety']) {
    for (const line of doc(file).split('\n')) {
      const m = /^\| `(sfu_[a-z0-9_]+)` \| ([a-z]+)[^|]* \|([^|]*)\|/.exec(line);
      if (!m) continue;
      const entry = { type: m[2]!, labels: labelNames(m[3]!) };
      const before = out.get(m[1]!);
      if (before) expect(entry, `${m[1]} documented twice, differently (${file}.md)`).toEqual(before);
      out.set(m[1]!, entry);
    }
  }
  return out;
}

function exported(): Map<string, { type: string; labels: string[] }> {
  const m = new Metrics({ defaultMetrics: false });
  m.clusterEnabled();
  m.clusterNodesWith(() => ({ live: 1, draining: 0 }));
  m.placementEnabled();
  m.escalationOwnershipEnabled();
  m.rosterEnabled();
  return new Map(m.registry.getMetricsAsArray().map((x) => {
    const labels = [...((x as unknown as { labelNames?: string[] }).labelNames ?? [])].sort();
    return [x.name, { type: x.constructor.name.toLowerCase(), labels }];
  }));
}

describe('metrics and their docs', () => {
  it('every documented metric is exported with its type and labels, and every exported one is documented', () => {
    const docs = documented();
    const server = exported();
    expect(docs.size).toBeGreaterThan(40);
    const diff: string[] = [];
    for (const [name, d] of docs) {
      const s = server.get(name);
      if (!s) diff.push(`${name}: documented, not exported`);
      else if (s.type !== d.type || s.labels.join() !== d.labels.join()) diff.push(`${name}: documented ${d.type} {${d.labels}}, exported ${s.type} {${s.labels}}`);
    }
    for (const name of server.keys()) if (!docs.has(name)) diff.push(`${name}: exported, not documented`);
    expect(diff).toEqual([]);
  });
});
