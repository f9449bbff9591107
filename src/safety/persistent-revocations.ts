import {
  LEARNED_FROM, MemoryRevocationList, RevocationListeners, revocationKey as keyOf, type Revocation, type RevocationList, type RevocationListener,
} from '../auth/revocations.ts';
import type { Store } from '../store/types.ts';

/**
 * Revocations that survive a restart and hold across nodes: checked in memory on every upgrade
 * and join, enforced at once, written to the store (with an audit entry) before `add` resolves, loaded from the store
 * at start, and re-read by `refresh()` (nodes sharing a store see each other's revocations).
 * Listeners hear of each revocation once: when `add` makes it hold, or when `refresh` or `learn` (a peer's word) first brings it.
 */
export class PersistentRevocationList implements RevocationList {
  readonly #memory = new MemoryRevocationList();
  readonly #store: Store;
  /** Every revocation this node holds, by key (to tell new ones from known ones on refresh). */
  readonly #known = new Set<string>();
  readonly #listeners = new RevocationListeners();

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
    for (const r of fresh) this.#listeners.emit(r, LEARNED_FROM.store);
    return fresh;
  }

  /**
   * A revocation another node made (and records in the shared store itself), told by that node:
   * holds here at once and the listeners run, nothing is written. Idempotent with `refresh`: the
   * first of the two to see a revocation announces it, the other finds it known.
   */
  learn(r: Revocation, actor: string): boolean {
    const key = keyOf(r);
    if (this.#known.has(key)) return false;
    this.#known.add(key);
    this.#memory.load([r]);
    this.#listeners.emit(r, actor);
    return true;
  }

  /**
   * Enforcement first: the revocation holds in memory and the listeners run (removing, closing)
   * before the store is written; `add` resolves once the record is durable. When the write fails,
   * `add` rejects (the caller reports it) but the revocation keeps holding on this node until it
   * expires or the node restarts: a failed write never un-kicks anyone.
   */
  async add(r: Revocation, actor = 'admin'): Promise<void> {
    // Known before the write: a refresh running meanwhile must not announce it as learned elsewhere.
    const key = keyOf(r);
    const isNew = !this.#known.has(key);
    this.#known.add(key);
    if (isNew) {
      this.#memory.load([r]);
      this.#listeners.emit(r, actor);
    }
    await this.#store.recordRevocation({
      room: r.room, identity: r.identity, tokenId: r.tokenId, until: new Date(r.until), reason: r.reason, actor, at: new Date(),
    });
  }

  onRevoked(listener: RevocationListener): () => void {
    return this.#listeners.add(listener);
  }

  find(room: string, identity: string, tokenId: string | undefined, now?: number): Revocation | undefined {
    return this.#memory.find(room, identity, tokenId, now);
  }

  list(room?: string, now?: number): Revocation[] {
    return this.#memory.list(room, now);
  }
}
