/**
 * End-to-end encryption of a room's media (issue #16; docs/protocol.md, "End-to-end encryption";
 * docs/security.md): the room's mode, and why its participants are told to make new sender keys.
 * The keys themselves never reach the server: it relays opaque blobs.
 */

/** A room's E2EE mode: from `e2ee.mode`, or the token's `e2ee` claim. */
export const E2EE_MODES = ['off', 'optional', 'required'] as const;
export type E2eeMode = (typeof E2EE_MODES)[number];

/** Why the others must make a new sender key (e2eeRekey): someone who held their keys may no longer receive media. */
export type RekeyReason = 'left' | 'kicked' | 'consentWithdrawn' | 'expired';

/** One other participant of an encrypted room and its public key (join response `e2ee.peers`). */
export interface E2eePeer {
  participantId: string;
  publicKey: string;
}

/** The room's E2EE state as a join response gives it. */
export interface E2eeView {
  mode: E2eeMode;
  /** True when the room's media is end-to-end encrypted (every participant has a key). */
  active: boolean;
  /** The other participants with their public keys; empty unless `active`. */
  peers: E2eePeer[];
}
