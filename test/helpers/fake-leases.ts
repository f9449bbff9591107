import type { EscalationOwnership } from '../../src/domain/escalation-ownership.ts';

/**
 * Escalation leases and the registry of open incidents as Redis keeps them (SET PX take-or-renew;
 * a sorted set by raisedAt), shared by the services of one test: each is a node. `calls` counts
 * what each node asked per operation.
 */
export class FakeLeases {
  readonly leases = new Map<string, { node: string; until: number }>();
  readonly registry = new Map<string, number>();
  readonly calls: { node: string; op: string; ids: readonly string[] }[] = [];
  down = false;
  #live(id: string) {
    const l = this.leases.get(id);
    return l && l.until > Date.now() ? l : undefined;
  }
  for(nodeId: string, leaseMs = 3000, intervalMs = 1000): EscalationOwnership {
    const call = (op: string, ids: readonly string[]) => {
      this.calls.push({ node: nodeId, op, ids });
      return !this.down;
    };
    return {
      nodeId, leaseMs, intervalMs,
      hold: async (ids) => {
        if (!call('hold', ids)) return undefined;
        const held = new Set<string>();
        const taken = new Set<string>();
        const elsewhere = new Set<string>();
        for (const id of ids) {
          const l = this.#live(id);
          if (!l || l.node === nodeId) {
            if (!l) taken.add(id);
            this.leases.set(id, { node: nodeId, until: Date.now() + leaseMs });
            held.add(id);
          } else {
            elsewhere.add(id);
          }
        }
        return { held, taken, elsewhere };
      },
      register: async (incidents) => {
        if (!call('register', incidents.map((i) => i.id))) return false;
        for (const i of incidents) if (!this.registry.has(i.id)) this.registry.set(i.id, Date.parse(i.raisedAt));
        return true;
      },
      registered: async (before) => (call('registered', []) ? [...this.registry].filter(([, at]) => at <= before).map(([id]) => id) : undefined),
      unleased: async (ids) => (call('unleased', ids) ? ids.filter((id) => !this.#live(id)) : undefined),
      release: (id) => {
        if (call('release', [id]) && this.leases.get(id)?.node === nodeId) this.leases.delete(id);
      },
      closed: (id) => {
        if (!call('closed', [id])) return;
        this.registry.delete(id);
        if (this.leases.get(id)?.node === nodeId) this.leases.delete(id);
      },
    };
  }
}
