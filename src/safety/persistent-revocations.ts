import { MemoryRevocationList, type Revocation, type RevocationList } from '../auth/revocations.ts';
import type { Store } from '../store/types.ts';

/**
 * Revocations that survive a restart: checked in memory on every upgrade and join, written to the
 * store (with an audit entry) before `add` resolves, and loaded from the store at start.
 */
export class PersistentRevocationList implements RevocationList {
  readonly #memory = new MemoryRevocationList();
  readonly #store: Store;

  private constructor(store: Store) {
    this.#store = store;
  }

  static async load(store: Store): Promise<PersistentRevocationList> {
    const list = new PersistentRevocationList(store);
    const active = await store.activeRevocations(new Date());
    list.#memory.load(active.map((r) => ({ room: r.room, identity: r.identity, tokenId: r.tokenId, until: r.until.getTime(), reason: r.reason })));
    return list;
  }

  async add(r: Revocation, actor = 'admin'): Promise<void> {
    await this.#store.recordRevocation({
      room: r.room, identity: r.identity, tokenId: r.tokenId, until: new Date(r.until), reason: r.reason, actor, at: new Date(),
    });
    await this.#memory.add(r);
  }

  find(room: string, identity: string, tokenId: string | undefined, now?: number): Revocation | undefined {
    return this.#memory.find(room, identity, tokenId, now);
  }

  list(room?: string, now?: number): Revocation[] {
    return this.#memory.list(room, now);
  }
}
