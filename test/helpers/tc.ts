import { spawnSync } from 'node:child_process';
import type { VethNamespace } from './netns.ts';

/**
 * `tc` in the root namespace (ns undefined) or inside a test's namespace. This kernel has htb, u32,
 * tbf and the blackhole qdisc but no netem, gact or prio (shared/notes/networks-browsers-clients.md).
 */
export function tc(ns: VethNamespace | undefined, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(ns ? 'ip' : 'tc', ns ? ['netns', 'exec', ns.name, 'tc', ...args] : args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout + r.stderr || r.error?.message || `exit ${r.status}`).trim() };
}

/** The namespace's end of the veth pair (netns.ts names the pair vsfu<id>h / vsfu<id>n). */
export const nsInterface = (ns: VethNamespace): string => ns.hostInterface.replace(/h$/, 'n');

/**
 * A token bucket on `dev`'s egress: `kbit` kbit/s, a burst of `burstBytes`, and a queue that holds
 * at most `latencyMs` of packets (what does not fit is dropped, as a home router's buffer would).
 * Replaces whatever root qdisc was there. Returns why it cannot, or undefined once in place.
 */
export function shapeRate(ns: VethNamespace | undefined, dev: string, link: { kbit: number; burstBytes: number; latencyMs: number }): string | undefined {
  const r = tc(ns, ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${link.kbit}kbit`, 'burst', String(link.burstBytes), 'latency', `${link.latencyMs}ms`]);
  return r.ok ? undefined : `\`tc qdisc replace dev ${dev} root tbf ...\` failed (${r.out})`;
}

/** Removes `dev`'s root qdisc (back to the default); a no-op when there is none. */
export function clearRoot(ns: VethNamespace | undefined, dev: string): void {
  tc(ns, ['qdisc', 'del', 'dev', dev, 'root']);
}

/** Packets `dev`'s root qdisc dropped so far (tbf: what overflowed its queue). */
export function rootDrops(ns: VethNamespace | undefined, dev: string): number {
  return Number(/dropped (\d+)/.exec(tc(ns, ['-s', 'qdisc', 'show', 'dev', dev, 'root']).out)?.[1] ?? NaN);
}
