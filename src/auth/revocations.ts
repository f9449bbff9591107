/** A denial: an identity (or one token id) may not join a room until a time. */
export interface Revocation {
  readonly room: string;
  readonly identity?: string | undefined;
  readonly tokenId?: string | undefined;
  readonly until: number;
  readonly reason: string;
}

/** The seam a persistent store fills (issue #3 brings the durable one). */
export interface RevocationList {
  /** Resolves once the revocation holds (durably, for a persistent list). */
  add(r: Revocation, actor?: string): Promise<void>;
  /** The active revocation that denies this identity or token id in the room, if any. */
  find(room: string, identity: string, tokenId: string | undefined, now?: number): Revocation | undefined;
  list(room?: string, now?: number): Revocation[];
}

export class MemoryRevocationList implements RevocationList {
  #items: Revocation[] = [];

  async add(r: Revocation): Promise<void> {
    this.#items.push(r);
  }

  /** Loads revocations kept elsewhere (a store) into memory. */
  load(items: readonly Revocation[]): void {
    this.#items.push(...items);
  }

  find(room: string, identity: string, tokenId: string | undefined, now = Date.now()): Revocation | undefined {
    this.#items = this.#items.filter((r) => r.until > now);
    return this.#items.find((r) => r.room === room
      && ((r.identity !== undefined && r.identity === identity) || (r.tokenId !== undefined && r.tokenId === tokenId)));
  }

  list(room?: string, now = Date.now()): Revocation[] {
    return this.#items.filter((r) => r.until > now && (room === undefined || r.room === room));
  }
}
