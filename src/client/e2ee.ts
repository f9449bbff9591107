/**
 * End-to-end encryption of one page's session (issue #16; docs/security.md): our ECDH identity
 * keys, our sender key and its epoch, the others' public keys, keys sent (wrapped for each
 * recipient) and received through the server as opaque blobs, rekeying when the server says
 * someone may no longer receive media, and the safety code. Frames go through FrameTransforms
 * (the worker). The server never sees a key in clear: only public keys and wrapped blobs.
 */
import { Emitter } from './emitter.ts';
import { importPublicKey, makeIdentityKeys, newSenderKey, unwrapSenderKey, wrapSenderKey, type IdentityKeys } from './e2ee-keys.ts';
import { safetyCode } from './e2ee-safety-code.ts';
import { deleteIdentity, lastEpoch, loadIdentity, rememberEpoch, saveIdentity } from './e2ee-identity-store.ts';
import { FrameTransforms, transformApi, type TransformApi } from './e2ee-transforms.ts';
import type { FrameCryptoStats } from './e2ee-frame-crypto.ts';
import type { Key } from './e2ee-frame.ts';

export type E2eeMode = 'off' | 'optional' | 'required';
export type RekeyReason = 'left' | 'kicked' | 'consentWithdrawn' | 'expired';

/** The join response's `e2ee` (docs/protocol.md, "End-to-end encryption"). */
export interface E2eeJoinView {
  readonly mode: E2eeMode;
  readonly active: boolean;
  readonly peers: readonly { readonly participantId: string; readonly publicKey: string }[];
}

/** How keys reach the others: the `e2eeKeys` request (the server relays each blob as `e2eeKey`). */
export type SendKeys = (epoch: number, keys: { to: string; blob: string }[]) => Promise<{ delivered: string[]; refused: { to: string; code: string }[] }>;

/** Why the safety code changed: someone joined or left (by participant id; the page says the role). */
export interface CodeChange {
  readonly code: string;
  readonly previous: string | undefined;
  readonly cause?: { readonly change: 'joined' | 'left'; readonly participantId: string };
}

export type E2eeEvents = {
  /** The session is (or is no longer) end-to-end encrypted. */
  active: [boolean];
  /** The safety code, on start and whenever the membership changed it. */
  code: [CodeChange];
  /** A key step that failed (never with key material): for the console and a notice. */
  problem: [string];
};

interface Peer {
  readonly publicKey: string;
  readonly key: Promise<Key>;
}

export class E2ee {
  readonly events = new Emitter<E2eeEvents>();
  readonly api: TransformApi | undefined = transformApi();
  readonly #debug: boolean;
  #identity: Promise<IdentityKeys> | undefined;
  #transforms: FrameTransforms | undefined;
  #active = false;
  #mode: E2eeMode = 'off';
  #room = '';
  #self = '';
  #send: SendKeys | undefined;
  readonly #peers = new Map<string, Peer>();
  #senderKey: { raw: Uint8Array; epoch: number } | undefined;
  #code: string | undefined;
  /** Key steps run one at a time, in order: a newcomer never gets a key older than a rekey before it. */
  #queue: Promise<void> = Promise.resolve();
  #codeQueue: Promise<void> = Promise.resolve();
  /** e2eeKey notifications that came before start(): opened by it. */
  #early: { from: string; epoch: number; blob: string }[] = [];
  /** A reloaded page that resumed its session: the epoch its earlier page had reached (the others hold that key; ours goes on from it). */
  #resumedEpoch: number | undefined;

  constructor(opts: { debug?: boolean } = {}) {
    this.#debug = opts.debug ?? false;
  }

  /** Whether this browser can encrypt frames (an encoded-transform API and WebCrypto). */
  get supported(): boolean { return this.api !== undefined; }
  get active(): boolean { return this.#active; }
  get mode(): E2eeMode { return this.#mode; }
  get code(): string | undefined { return this.#code; }
  get epoch(): number | undefined { return this.#senderKey?.epoch; }
  /** The frame transforms while the session is encrypted (MediaLink attaches senders and receivers to them). */
  get transforms(): FrameTransforms | undefined { return this.#active ? this.#transforms : undefined; }

  /**
   * Our public key for the join request; undefined when this browser cannot do E2EE. Made once per
   * session; `resuming` (a reload of this tab resumes its session): the pair this tab kept for it.
   */
  async publicKey(resuming = false): Promise<string | undefined> {
    if (!this.api) return undefined;
    this.#identity ??= (async () => {
      const kept = resuming ? await loadIdentity() : undefined;
      this.#resumedEpoch = kept ? lastEpoch() : undefined;
      if (kept) return kept;
      const made = await makeIdentityKeys();
      await saveIdentity(made);
      return made;
    })();
    try {
      return (await this.#identity).publicKey;
    } catch (err) {
      // No key pair (WebCrypto refused): join without E2EE; a `required` room refuses us with E2EE_UNSUPPORTED.
      this.#identity = undefined;
      this.events.emit('problem', `no identity key pair (${err instanceof Error ? err.name : String(err)})`);
      return undefined;
    }
  }

  /**
   * After a join (or a fresh re-join): the room's E2EE state. Active: a new sender key (epoch 0 on a
   * new join, the next epoch otherwise), sent to every peer, and the transforms ready.
   */
  async start(opts: { room: string; self: string; view: E2eeJoinView | undefined; send: SendKeys }): Promise<void> {
    const view = opts.view;
    this.#mode = view?.mode ?? 'off';
    this.#room = opts.room;
    this.#self = opts.self;
    this.#send = opts.send;
    const active = view?.active === true && this.api !== undefined;
    // Peers already known (a participantJoined that came in before this) stay; the view adds the rest.
    if (!active) {
      this.#peers.clear();
      this.#early = [];
      this.#setActive(false);
      return;
    }
    this.#transforms ??= new FrameTransforms(this.api!, this.#debug);
    for (const p of view!.peers) this.#addPeer(p.participantId, p.publicKey);
    this.#setActive(true);
    const early = this.#early;
    this.#early = [];
    for (const k of early) void this.keyReceived(k.from, k.epoch, k.blob);
    await this.#enqueue(async () => {
      // A new join: 0; a re-join or a reloaded page: the next epoch (receivers ignore an epoch older than the one they hold).
      const epoch = this.#senderKey ? this.#senderKey.epoch + 1 : (this.#resumedEpoch ?? -1) + 1;
      await this.#useNewKey(epoch, [...this.#peers.keys()]);
    });
    await this.#updateCode(undefined);
  }

  /** The session ended for this page (left, failed, suspended for a reload): keys forgotten, the worker stopped. */
  stop(opts: { keepIdentity?: boolean } = {}): void {
    this.#peers.clear();
    this.#early = [];
    this.#senderKey = undefined;
    // The next session of this page gets a new identity; the one kept for a reload goes (unless the page is reloading).
    if (this.#identity && !opts.keepIdentity) {
      void deleteIdentity();
      rememberEpoch(undefined);
    }
    this.#identity = undefined;
    this.#transforms?.close();
    this.#transforms = undefined;
    this.#code = undefined;
    this.#setActive(false);
  }

  /** The attempt ended (a re-join follows, or stop): peers forgotten quietly; our sender key stays. */
  clearPeers(): void {
    for (const id of this.#peers.keys()) this.#transforms?.forget(id);
    this.#peers.clear();
  }

  /** participantJoined with a public key: they get our current key; the code changes. */
  peerJoined(participantId: string, publicKey: string | undefined): void {
    if (!publicKey || participantId === this.#self) return;
    this.#addPeer(participantId, publicKey);
    // Before start() (a notification ahead of it): start() sends our first key to every peer.
    if (!this.#active) return;
    void this.#enqueue(() => this.#sendCurrentKey([participantId]));
    void this.#updateCode({ change: 'joined', participantId });
  }

  /** participantLeft: their keys go; the code changes. (The server's e2eeRekey makes us rotate ours.) */
  peerLeft(participantId: string): void {
    if (!this.#peers.delete(participantId)) return;
    this.#transforms?.forget(participantId);
    void this.#updateCode({ change: 'left', participantId });
  }

  /** consentGranted for another participant: they may receive media again, with our current key. */
  consentGranted(participantId: string): void {
    if (!this.#active || participantId === this.#self || !this.#peers.has(participantId)) return;
    void this.#enqueue(() => this.#sendCurrentKey([participantId]));
  }

  /**
   * A participant is back after a connection drop (participantConnection), or we resumed: keys sent
   * while a socket was down were refused, so they get our current key again.
   */
  resendTo(participantIds: readonly string[]): void {
    if (!this.#active) return;
    const to = participantIds.filter((id) => this.#peers.has(id));
    if (to.length > 0) void this.#enqueue(() => this.#sendCurrentKey(to));
  }

  /**
   * e2eeKey: a sender key another participant wrapped for us. One that arrives before start() (a
   * resumed page still closing its old transports; the others send their keys as soon as the
   * server has us back) is kept and opened once the join's peers are known.
   */
  async keyReceived(from: string, epoch: number, blob: string): Promise<void> {
    if (!this.#active) {
      if (this.#early.length < 64) this.#early.push({ from, epoch, blob });
      return;
    }
    const peer = this.#peers.get(from);
    if (!peer) return;
    const identity = await this.#identity!;
    const raw = await unwrapSenderKey(blob, identity.privateKey, await peer.key, { room: this.#room, from, to: this.#self, epoch });
    if (!raw) {
      this.events.emit('problem', `a key from a participant could not be opened (epoch ${epoch})`);
      return;
    }
    await this.#transforms?.setReceiverKey(from, raw, epoch);
  }

  /** e2eeRekey: a new sender key (next epoch), sent to `recipients` only, in use at once. */
  rekey(recipients: readonly string[]): Promise<void> {
    if (!this.#active) return Promise.resolve();
    return this.#enqueue(() => this.#useNewKey((this.#senderKey?.epoch ?? -1) + 1, recipients));
  }

  /** The worker's counters (frames, drops, time spent, epochs). */
  stats(): Promise<FrameCryptoStats | undefined> {
    return this.#transforms?.stats() ?? Promise.resolve(undefined);
  }

  /** The frame crypto's own cost, measured in the worker with a throwaway key (the bench); undefined when not encrypted. */
  measure(n: number, bytes: number): Promise<unknown> {
    return this.#transforms?.measure(n, bytes) ?? Promise.resolve(undefined);
  }

  #addPeer(participantId: string, publicKey: string): void {
    if (this.#peers.get(participantId)?.publicKey === publicKey) return;
    const key = importPublicKey(publicKey);
    key.catch(() => this.events.emit('problem', 'a participant\'s public key is not valid'));
    this.#peers.set(participantId, { publicKey, key });
  }

  /** A new sender key for `epoch`: wrapped for `recipients`, sent, then used by the worker. */
  async #useNewKey(epoch: number, recipients: readonly string[]): Promise<void> {
    const raw = newSenderKey();
    this.#senderKey = { raw, epoch };
    rememberEpoch(epoch);
    await this.#deliver(raw, epoch, recipients);
    await this.#transforms?.setSenderKey(raw, epoch);
  }

  async #sendCurrentKey(recipients: readonly string[]): Promise<void> {
    const sk = this.#senderKey;
    if (sk) await this.#deliver(sk.raw, sk.epoch, recipients);
  }

  async #deliver(raw: Uint8Array, epoch: number, recipients: readonly string[]): Promise<void> {
    const identity = await this.#identity!;
    const keys: { to: string; blob: string }[] = [];
    for (const to of recipients) {
      const peer = this.#peers.get(to);
      if (!peer || to === this.#self) continue;
      const pub = await peer.key.catch(() => undefined);
      if (!pub) continue;
      keys.push({ to, blob: await wrapSenderKey(raw, identity.privateKey, pub, { room: this.#room, from: this.#self, to, epoch }) });
    }
    if (keys.length === 0 || !this.#send) return;
    try {
      const result = await this.#send(epoch, keys);
      if (result.refused.length > 0) console.info(`e2ee: ${result.refused.length} key(s) of epoch ${epoch} refused (${[...new Set(result.refused.map((r) => r.code))].join(', ')})`);
    } catch (err) {
      this.events.emit('problem', `sending keys failed (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  /** Recomputes the safety code (one at a time, in order of the membership changes). */
  #updateCode(cause: CodeChange['cause']): Promise<void> {
    const next = this.#codeQueue.then(() => this.#computeCode(cause)).catch(() => undefined);
    this.#codeQueue = next;
    return next;
  }

  async #computeCode(cause: CodeChange['cause']): Promise<void> {
    if (!this.#active || !this.#identity) return;
    const own = (await this.#identity).publicKey;
    const code = await safetyCode([own, ...[...this.#peers.values()].map((p) => p.publicKey)]);
    if (code === this.#code) return;
    const previous = this.#code;
    this.#code = code;
    this.events.emit('code', { code, previous, ...(cause ? { cause } : {}) });
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(step).catch((err: unknown) => this.events.emit('problem', `key step failed (${err instanceof Error ? err.message : String(err)})`));
    this.#queue = next;
    return next;
  }

  #setActive(active: boolean): void {
    if (active === this.#active) return;
    this.#active = active;
    this.events.emit('active', active);
  }
}
