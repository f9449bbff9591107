import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/**
 * A network namespace joined to the root namespace by a veth pair, both created for one test (needs
 * root): the only non-loopback addresses a test may send to on these machines
 * (shared/notes/networks-browsers-clients.md). The namespace sees only `lo` and its veth end.
 */
export interface VethNamespace {
  /** The namespace's name (`ip netns exec <name> ...`). */
  readonly name: string;
  /** The veth end left in the root namespace. */
  readonly hostInterface: string;
  /** The root namespace's address on the veth (x.x.x.1/30). */
  readonly hostAddress: string;
  /** The namespace's address on its veth end (x.x.x.2/30): the only route to it is the veth. */
  readonly nsAddress: string;
  /** Prefix for a command to run inside the namespace: `[...ns.exec, 'node', ...]`. */
  readonly exec: readonly string[];
  /** Deletes the namespace and the veth pair (idempotent; safe after a half-made set-up). */
  remove(): void;
}

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout + r.stderr || r.error?.message || `exit ${r.status}`).trim() };
}

/** The root namespace's routes to `address`: which device carries it. */
export function routeDevice(address: string): string | undefined {
  return /\bdev (\S+)/.exec(ip(['route', 'get', address]).out)?.[1];
}

/** Why this process cannot make a namespace (not root, no `ip netns`), or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: this test needs a network namespace and a veth pair of its own (ip netns, ip link)';
  const r = ip(['netns', 'list']);
  return r.ok ? undefined : `\`ip netns list\` failed (${r.out}): this test needs network namespaces`;
}

/**
 * Creates `sfu-<tag>-<random>` with a veth pair on a random 10.x.y.0/30 that no route of the root
 * namespace covers yet, or says why it cannot (not root, no `ip netns`).
 */
export function createVethNamespace(tag: string): VethNamespace | { skip: string } {
  const id = randomInt(0x10000, 0xfffff).toString(16);
  const name = `sfu-${tag}-${id}`;
  // Interface names are at most 15 characters.
  const hostInterface = `vsfu${id}h`;
  const nsInterface = `vsfu${id}n`;
  let subnet: string | undefined;
  for (let i = 0; i < 20 && !subnet; i++) {
    const candidate = `10.${randomInt(200, 255)}.${randomInt(0, 256)}.${randomInt(0, 64) * 4}`;
    // Unused: no route of the root namespace but the default one covers it.
    const covering = ip(['-4', 'route', 'show', 'match', candidate]).out.split('\n').filter((l) => l && !l.startsWith('default'));
    if (covering.length === 0) subnet = candidate;
  }
  if (!subnet) return { skip: 'found no unused 10.x.y.0/30 for the veth pair' };
  const base = subnet.replace(/\.\d+$/, '');
  const last = Number(subnet.split('.').pop());
  const hostAddress = `${base}.${last + 1}`;
  const nsAddress = `${base}.${last + 2}`;
  const remove = () => {
    ip(['netns', 'del', name]);
    // Deleting the namespace deletes its veth end and with it the pair; this is for a half-made set-up.
    ip(['link', 'del', hostInterface]);
  };
  const steps: string[][] = [
    ['netns', 'add', name],
    ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface],
    ['link', 'set', nsInterface, 'netns', name],
    ['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface],
    ['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface],
    ['link', 'set', hostInterface, 'up'],
    ['-n', name, 'link', 'set', nsInterface, 'up'],
    ['-n', name, 'link', 'set', 'lo', 'up'],
    // Replies to a browser's other host candidates (checks sent from the host's own addresses
    // reach the namespace over the veth too) go back over the veth: without a route, ICE-lite may
    // pick such a tuple and send media nowhere. Packets for the host's addresses are delivered on
    // the host; nothing leaves it.
    ['-n', name, 'route', 'add', 'default', 'via', hostAddress],
  ];
  for (const step of steps) {
    const r = ip(step);
    if (!r.ok) {
      remove();
      return { skip: `\`ip ${step.join(' ')}\` failed (${r.out}); this test needs root and network namespaces` };
    }
  }
  return { name, hostInterface, hostAddress, nsAddress, exec: ['ip', 'netns', 'exec', name], remove };
}

/** Whether the namespace or either veth end still exists (for a test's own check after remove()). */
export function vethNamespaceLeftovers(ns: VethNamespace): string[] {
  const left: string[] = [];
  if (ip(['netns', 'list']).out.split('\n').some((l) => l.split(' ')[0] === ns.name)) left.push(`namespace ${ns.name}`);
  if (ip(['link', 'show', ns.hostInterface]).ok) left.push(`interface ${ns.hostInterface}`);
  return left;
}
