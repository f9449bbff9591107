import { SfuError } from '../shared/errors.ts';

/** A denial: an identity (or one token id) may not join a room until a time. */
export interface Revocation {
  readonly room: string;
  readonly identity?: string | undefined;
  readonly tokenId?: string | undefined;
  readonly until: number;
  readonly reason: string;
}

/** Told of every revocation that newly holds on this node, with who made it (`admin`, `revocation-sync`, ...). */
export type RevocationListener = (r: Revocation, actor: string) => void;

/** The actors of revocations made on another node and learned here: from the store's periodic read, or from a peer over Redis. */
export const LEARNED_FROM = { store: 'revocation-sync', peer: 'revocation-peer' } as const;

/** Whether a revocation was learned from elsewhere (not made on this node): such ones are not announced again. */
export function learnedElsewhere(actor: string): boolean {
  return actor === LEARNED_FROM.store || actor === LEARNED_FROM.peer;
}

/** The seam a persistent store fills (issue #3 brings the durable one). */
export interface RevocationList {
  /** Resolves once the revocation holds (durably, for a persistent list); listeners ran by then. */
  add(r: Revocation, actor?: string): Promise<void>;
  /** The active revocation that denies this identity or token id in the room, if any. */
  find(room: string, identity: string, tokenId: string | undefined, now?: number): Revocation | undefined;
  list(room?: string, now?: number): Revocation[];
  /**
   * Holds a revocation made and recorded on another node (told by a peer): it holds here at once
   * and the listeners run, but nothing is written. Returns false when this node held it already.
   */
  learn(r: Revocation, actor: string): boolean;
  /**
   * Calls `listener` synchronously for each revocation that newly holds on this node: right after
   * `add` made it hold, or when a persistent list learns it from the store. Returns the unsubscribe.
   */
  onRevoked(listener: RevocationListener): () => void;
}

/** Whether a revocation names this identity or token id (the room is checked by the caller). */
/** Who a revocation may deny: a token's room, identity and id. */
export interface RevocableGrant {
  readonly room: string;
  readonly identity: string;
  readonly tokenId?: string | undefined;
}

/**
 * Throws `IDENTITY_REVOKED` when a revocation denies this grant now: the one check every door
 * makes (the join and its re-checks after each await, the WebSocket upgrade, the link check, the
 * panic channel's handshake and events).
 */
export function assertNotRevoked(revocations: RevocationList, grant: RevocableGrant, now = Date.now()): void {
  const r = revocations.find(grant.room, grant.identity, grant.tokenId, now);
  if (r) throw new SfuError('IDENTITY_REVOKED', `access to this room is revoked until ${new Date(r.until).toISOString()}`);
}

export function revokes(r: Revocation, identity: string, tokenId: string | undefined): boolean {
  return (r.identity !== undefined && r.identity === identity) || (r.tokenId !== undefined && r.tokenId === tokenId);
}

/** Listeners of a revocation list: one that throws does not keep the others from running. */
export class RevocationListeners {
  readonly #listeners = new Set<RevocationListener>();

  add(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(r: Revocation, actor: string): void {
    for (const l of this.#listeners) {
      try {
        l(r, actor);
      } catch (err) {
        process.emitWarning(`a revocation listener threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 'ListenerError');
      }
    }
  }
}

/** The identity of a revocation: two equal keys are the same revocation, however each node learned it. */
export const revocationKey = (r: Revocation): string => `${r.room}\u0000${r.identity ?? ''}\u0000${r.tokenId ?? ''}\u0000${r.until}`;

export class MemoryRevocationList implements RevocationList {
  #items: Revocation[] = [];
  readonly #listeners = new RevocationListeners();

  async add(r: Revocation, actor = 'admin'): Promise<void> {
    this.#items.push(r);
    this.#listeners.emit(r, actor);
  }

  learn(r: Revocation, actor: string): boolean {
    const key = revocationKey(r);
    if (this.#items.some((x) => revocationKey(x) === key)) return false;
    this.#items.push(r);
    this.#listeners.emit(r, actor);
    return true;
  }

  /** Loads revocations kept elsewhere (a store) into memory; tells no listener. */
  load(items: readonly Revocation[]): void {
    this.#items.push(...items);
  }

  find(room: string, identity: string, tokenId: string | undefined, now = Date.now()): Revocation | undefined {
    this.#items = this.#items.filter((r) => r.until > now);
    return this.#items.find((r) => r.room === room && revokes(r, identity, tokenId));
  }

  list(room?: string, now = Date.now()): Revocation[] {
    return this.#items.filter((r) => r.until > now && (room === undefined || r.room === room));
  }

  onRevoked(listener: RevocationListener): () => void {
    return this.#listeners.add(listener);
  }
}
