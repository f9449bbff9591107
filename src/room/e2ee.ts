import type { E2eeMode, E2eeView, RekeyReason } from '../domain/e2ee.ts';
import type { LeaveReason } from '../domain/notifications.ts';
import { SfuError } from '../shared/errors.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Participant } from './participant.ts';

/** An uncompressed P-256 point: 0x04, then X and Y (32 bytes each). */
const PUBLIC_KEY_BYTES = 65;
/** Its base64url length without padding: ceil(65 * 4 / 3). */
export const PUBLIC_KEY_CHARS = 87;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Checks a join's `e2ee.publicKey`: base64url without padding (canonical: it decodes and encodes
 * back to itself), 65 bytes, first byte 0x04 (an uncompressed P-256 point). Whether the point is on
 * the curve is the clients' business (they import it with WebCrypto); the server only relays it.
 */
export function checkPublicKey(key: string): void {
  const bad = (why: string) => new SfuError('E2EE_INVALID_KEY', `e2ee.publicKey: ${why}`);
  if (key.length !== PUBLIC_KEY_CHARS) throw bad(`must be ${PUBLIC_KEY_CHARS} base64url characters (65 bytes), not ${key.length}`);
  if (!BASE64URL.test(key)) throw bad('must be base64url (A-Z a-z 0-9 - _), without padding');
  const bytes = Buffer.from(key, 'base64url');
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes.toString('base64url') !== key) throw bad('is not canonical base64url of 65 bytes');
  if (bytes[0] !== 0x04) throw bad('must be an uncompressed P-256 point (first byte 0x04)');
}

/** One entry of an e2eeKeys request: a sender key encrypted to participant `to` (opaque). */
export interface KeyEntry {
  readonly to: string;
  readonly blob: string;
}

export interface RelayResult {
  delivered: string[];
  refused: { to: string; code: 'PARTICIPANT_NOT_FOUND' | 'CONSENT_WITHDRAWN' | 'PERMISSION_DENIED' }[];
}

const REKEY_REASON: Record<LeaveReason, RekeyReason> = { LEFT: 'left', KICKED: 'kicked', DISCONNECTED: 'expired' };

/**
 * A room's end-to-end encryption: its mode, fixed by the first participant admitted (for the room's
 * lifetime), whether it is active, the relay of sender keys between participants, and the rekey
 * that follows every departure of someone who held the others' keys. Holds no key material but the
 * participants' public keys (on the participants); never logs a key or a blob.
 *
 * Everything here is synchronous and called by the Room from its own steps (admission) or from its
 * synchronous cuts (remove, withdraw), so a relay never interleaves with a change of who may
 * receive media: a key is delivered either before a departure (and the rekey that follows it
 * replaces it) or not at all.
 */
export class RoomE2ee {
  readonly #defaultMode: E2eeMode;
  readonly #metrics: Metrics;
  readonly #mayReceive: (sub: Participant, pub: Participant) => boolean;
  #mode: E2eeMode | undefined;
  #active = false;
  #closed = false;

  /**
   * `mayReceive(sub, pub)`: whether `sub` may ever receive `pub`'s media in this room (its subscribe
   * permission and the forwarding policy; consent is checked here). A sender key goes only there.
   */
  constructor(defaultMode: E2eeMode, metrics: Metrics, mayReceive: (sub: Participant, pub: Participant) => boolean) {
    this.#defaultMode = defaultMode;
    this.#metrics = metrics;
    this.#mayReceive = mayReceive;
  }

  /** The room's mode: fixed by its first participant; before that, the configured default. */
  get mode(): E2eeMode { return this.#mode ?? this.#defaultMode; }
  /** True when the room's media is end-to-end encrypted. */
  get active(): boolean { return this.#active; }

  /** The mode a participant's token asks for: its `e2ee` claim, else the configured mode. */
  #modeOf(p: Participant): E2eeMode { return p.grant.e2ee ?? this.#defaultMode; }

  /**
   * Throws when `p` may not be admitted now: E2EE_MODE_CONFLICT (its token's mode is not the
   * room's), E2EE_UNSUPPORTED (no public key for a room that is, or would be, encrypted).
   */
  check(p: Participant): void {
    const wanted = this.#modeOf(p);
    if (this.#mode !== undefined && wanted !== this.#mode) {
      throw new SfuError('E2EE_MODE_CONFLICT', `this room's E2EE mode is ${this.#mode}; the token asks for ${wanted}`);
    }
    const encrypted = this.#mode === undefined ? wanted === 'required' : this.#active;
    if (encrypted && p.publicKey === undefined) {
      throw new SfuError('E2EE_UNSUPPORTED', 'this room is end-to-end encrypted: join with e2ee.publicKey from a client that can encrypt media');
    }
  }

  /** Called as `p` is admitted (after check, in the same step): the first participant fixes the mode. */
  admitted(p: Participant): void {
    if (this.#mode !== undefined) return;
    this.#mode = this.#modeOf(p);
    this.#active = this.#mode === 'required' || (this.#mode === 'optional' && p.publicKey !== undefined);
    if (this.#active) this.#metrics.e2eeRoomOpened();
  }

  /** The join response's `e2ee` for `p`: the others' public keys when active. */
  view(p: Participant, participants: Iterable<Participant>): E2eeView {
    const peers = [];
    if (this.#active) {
      for (const o of participants) if (o !== p && o.publicKey !== undefined) peers.push({ participantId: o.id, publicKey: o.publicKey });
    }
    return { mode: this.mode, active: this.#active, peers };
  }

  /** The public key to show the others in participantJoined: only in an active room. */
  publicKeyOf(p: Participant): { publicKey: string } | Record<string, never> {
    return this.#active && p.publicKey !== undefined ? { publicKey: p.publicKey } : {};
  }

  /**
   * e2eeKeys: hands each entry to its `to` as `e2eeKey` if that participant is in the room and may
   * receive the sender's media now; others are refused (PARTICIPANT_NOT_FOUND, CONSENT_WITHDRAWN,
   * PERMISSION_DENIED: not its media by the forwarding policy or its subscribe permission). The
   * blobs are passed on untouched. `participants` are the room's admitted participants by id.
   */
  relay(from: Participant, epoch: number, keys: readonly KeyEntry[], participants: ReadonlyMap<string, Participant>): RelayResult {
    if (!this.#active) throw new SfuError('E2EE_NOT_ACTIVE', 'this room is not end-to-end encrypted: there are no keys to send');
    if (!from.mediaAllowed) throw new SfuError('CONSENT_WITHDRAWN', 'telehealth consent was withdrawn: no media, so no keys to send');
    const seen = new Set<string>();
    keys.forEach(({ to }, i) => {
      if (to === from.id) throw new SfuError('INVALID_REQUEST', `keys.${i}.to: is your own participantId`);
      if (seen.has(to)) throw new SfuError('INVALID_REQUEST', `keys.${i}.to: appears twice`);
      seen.add(to);
    });
    const result: RelayResult = { delivered: [], refused: [] };
    for (const { to, blob } of keys) {
      const target = participants.get(to);
      if (!target || target.closed) {
        this.#refuse(result, to, 'PARTICIPANT_NOT_FOUND');
      } else if (!target.mediaAllowed) {
        this.#refuse(result, to, 'CONSENT_WITHDRAWN');
      } else if (!this.#mayReceive(target, from)) {
        this.#refuse(result, to, 'PERMISSION_DENIED');
      } else {
        target.notify('e2eeKey', { from: from.id, epoch, blob });
        result.delivered.push(to);
        this.#metrics.e2eeKeyMessage('delivered');
      }
    }
    return result;
  }

  #refuse(result: RelayResult, to: string, code: RelayResult['refused'][number]['code']): void {
    result.refused.push({ to, code });
    this.#metrics.e2eeKeyMessage(code);
  }

  /**
   * `gone` left the room (it is no longer among `remaining`): if it may have held current sender
   * keys (it could receive media until now), every remaining participant that may receive media is
   * told to make a new one.
   */
  left(gone: Participant, reason: LeaveReason, remaining: Iterable<Participant>): void {
    if (gone.mediaAllowed) this.#rekey(gone, REKEY_REASON[reason], remaining);
  }

  /** `p` withdrew `telehealth` consent (it could receive media until now, and no longer can). */
  withdrew(p: Participant, participants: Iterable<Participant>): void {
    this.#rekey(p, 'consentWithdrawn', participants);
  }

  /**
   * One rekey round: every participant that may receive media (not `p`) gets `e2eeRekey` with the
   * others among them that may receive its media as `recipients` (itself left out): the ones to
   * send its new key to.
   */
  #rekey(p: Participant, reason: RekeyReason, participants: Iterable<Participant>): void {
    if (!this.#active || this.#closed) return;
    const receivers = [...participants].filter((o) => o !== p && !o.closed && o.mediaAllowed);
    for (const o of receivers) {
      o.notify('e2eeRekey', { reason, participantId: p.id, recipients: receivers.filter((r) => r !== o && this.#mayReceive(r, o)).map((r) => r.id) });
    }
    if (receivers.length > 0) this.#metrics.e2eeRekey(reason);
  }

  /** The room closed. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#active) this.#metrics.e2eeRoomClosed();
  }
}
