import { MemoryRevocationList, type Revocation, type RevocationList } from '../auth/revocations.ts';
import type { Store } from '../store/types.ts';

const keyOf = (r: Revocation) => `${r.room}\u0000${r.identity ?? ''}\u0000${r.tokenId ?? ''}\u0000${r.until}`;

/**
 * Revocations that survive a restart and hold across nodes: checked in memory on every upgrade
 * and join, written to the store (with an audit entry) before `add` resolves, loaded from the store
 * at start, and re-read by `refresh()` (nodes sharing a store see each other's revocations).
 */
export class PersistentRevocationList implements RevocationList {
  readonly #memory = new MemoryRevocationList();
  readonly #store: Store;
  /** Every revocation this node holds, by key (to tell new ones from known ones on refresh). */
  readonly #known = new Set<string>();

  private constructor(store: Store) {
    this.#store = store;
  }

  static async load(store: Store): Promise<PersistentRevocationList> {
    const list = new PersistentRevocationList(store);
    await list.refresh();
    return list;
  }

  /** Reads the store's active revocations; returns those this node did not hold yet. */
  async refresh(now = new Date()): Promise<Revocation[]> {
    const active = await this.#store.activeRevocations(now);
    const fresh: Revocation[] = [];
    for (const row of active) {
      const r: Revocation = { room: row.room, identity: row.identity, tokenId: row.tokenId, until: row.until.getTime(), reason: row.reason };
      if (this.#known.has(keyOf(r))) continue;
      this.#known.add(keyOf(r));
      fresh.push(r);
    }
    this.#memory.load(fresh);
    return fresh;
  }

  async add(r: Revocation, actor = 'admin'): Promise<void> {
    await this.#store.recordRevocation({
      room: r.room, identity: r.identity, tokenId: r.tokenId, until: new Date(r.until), reason: r.reason, actor, at: new Date(),
    });
    this.#known.add(keyOf(r));
    await this.#memory.add(r);
  }

  find(room: string, identity: string, tokenId: string | undefined, now?: number): Revocation | undefined {
    return this.#memory.find(room, identity, tokenId, now);
  }

  list(room?: string, now?: number): Revocation[] {
    return this.#memory.list(room, now);
  }
}
