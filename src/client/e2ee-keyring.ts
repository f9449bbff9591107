/**
 * The receiving side's frame keys: per sender, the newest epoch's key and, for a short overlap
 * after a new one arrives, the one before it (frames already on their way). The older key goes
 * once a frame of the new epoch decrypted, or `overlapMs` after the new key arrived, whichever
 * comes first. Pure (times are passed in); used by the E2EE worker.
 */

export const OVERLAP_MS = 2000;

interface Entry<K> {
  readonly epoch: number;
  readonly key: K;
  readonly addedAt: number;
}

export class Keyring<K> {
  readonly #bySender = new Map<string, Entry<K>[]>();
  readonly #overlapMs: number;
  /** With `keepRetired` (the test-only debug mode), keys that left the ring, newest last. */
  readonly #retired = new Map<string, Entry<K>[]>();
  readonly #keepRetired: boolean;

  constructor(opts: { overlapMs?: number; keepRetired?: boolean } = {}) {
    this.#overlapMs = opts.overlapMs ?? OVERLAP_MS;
    this.#keepRetired = opts.keepRetired ?? false;
  }

  /** A sender's key for `epoch` arrived. An older epoch than the newest held is ignored (a late duplicate). */
  add(sender: string, epoch: number, key: K, now: number): boolean {
    const list = this.#live(sender, now);
    const newest = list.at(-1);
    if (newest && epoch < newest.epoch) return false;
    if (newest && epoch === newest.epoch) list.pop();
    list.push({ epoch, key, addedAt: now });
    // At most the newest and the one before it.
    while (list.length > 2) this.#retire(sender, list.shift()!);
    this.#bySender.set(sender, list);
    return true;
  }

  /** The key whose epoch ends in `epochByte` (the frame trailer's byte), if it is still held. */
  lookup(sender: string, epochByte: number, now: number): { key: K; epoch: number } | undefined {
    const entry = this.#live(sender, now).findLast((e) => (e.epoch & 0xff) === epochByte);
    return entry ? { key: entry.key, epoch: entry.epoch } : undefined;
  }

  /** A frame of `epoch` decrypted: keys older than it are no longer needed. */
  decrypted(sender: string, epoch: number): void {
    const list = this.#bySender.get(sender);
    if (!list) return;
    while (list.length > 1 && list[0]!.epoch < epoch) this.#retire(sender, list.shift()!);
  }

  /** The newest epoch held for `sender`. */
  newestEpoch(sender: string): number | undefined {
    return this.#bySender.get(sender)?.at(-1)?.epoch;
  }

  /** Debug mode: the keys of `sender` that left the ring (older epochs), newest last. */
  retired(sender: string): { key: K; epoch: number }[] {
    return (this.#retired.get(sender) ?? []).map((e) => ({ key: e.key, epoch: e.epoch }));
  }

  /** The sender left: every key of theirs goes. */
  forget(sender: string): void {
    for (const e of this.#bySender.get(sender) ?? []) this.#retire(sender, e);
    this.#bySender.delete(sender);
  }

  senders(): string[] {
    return [...this.#bySender.keys()];
  }

  /** The sender's keys with an expired overlap dropped. */
  #live(sender: string, now: number): Entry<K>[] {
    const list = this.#bySender.get(sender) ?? [];
    const newest = list.at(-1);
    while (newest && list.length > 1 && now - newest.addedAt >= this.#overlapMs) this.#retire(sender, list.shift()!);
    return list;
  }

  #retire(sender: string, entry: Entry<K>): void {
    if (!this.#keepRetired) return;
    const list = this.#retired.get(sender) ?? [];
    list.push(entry);
    while (list.length > 4) list.shift();
    this.#retired.set(sender, list);
  }
}
