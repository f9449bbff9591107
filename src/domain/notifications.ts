import type { Role, Source } from './roles.ts';
import type { RekeyReason } from './e2ee.ts';

/**
 * What a room tells its participants (carried as notifications by the signalling protocol,
 * docs/protocol.md), and the reasons and views they carry.
 */
/** Why a room was closed under its participants. */
export type RoomCloseReason = 'WORKER_DIED' | 'SERVER_DRAINING' | 'SERVER_SHUTDOWN' | 'ADMIN_CLOSED' | 'EMPTY';
/** Why a participant left the room. */
export type LeaveReason = 'LEFT' | 'DISCONNECTED' | 'KICKED';

export interface ProducerInfo {
  producerId: string;
  kind: 'audio' | 'video';
  source: Source;
  paused: boolean;
}

/** A participant's safety facts, sent only to clinical roles. */
export interface SafetyView {
  consentScopes: string[];
  location?: { region: string; description: string } | undefined;
  emergencyContact?: { name: string; phone: string } | undefined;
}

export interface ParticipantInfo {
  participantId: string;
  identity: string;
  role: Role;
  displayName?: string | undefined;
  producers: ProducerInfo[];
  /** Present only when the receiver is a clinician. */
  safety?: SafetyView;
  /** Present (true) while the participant's connection is lost and its grace period runs (participantConnection). */
  reconnecting?: true;
}

/** A participant's connection as the others see it: lost (its grace period runs) or back. */
export type ConnectionState = 'reconnecting' | 'connected';

/** The room's dominant speaker: a participant in the room and its open audio producer. */
export interface SpeakerInfo {
  participantId: string;
  producerId: string;
}

/** Server -> client notifications: name -> data. */
export interface Notifications {
  /** `restored`: the participant came back after the node that hosted the room was lost (its admission records stand). */
  participantJoined: {
    participantId: string; identity: string; role: Role; displayName?: string | undefined; restored?: true; safety?: SafetyView;
    /** Its E2EE public key, when the room is end-to-end encrypted (send it your sender key with e2eeKeys). */
    publicKey?: string;
  };
  /** To everyone in the room: a participant withdrew consent scopes (no reasons). */
  consentWithdrawn: { participantId: string; scopes: string[] };
  /** To everyone in the room (including the participant): a participant granted consent again after withdrawing it (grantConsent). */
  consentGranted: { participantId: string; scopes: string[] };
  /**
   * To every other participant: a participant's connection was lost (`reconnecting`, with the
   * seconds of grace the server keeps its session) or it came back within them (`connected`).
   */
  participantConnection: { participantId: string; state: ConnectionState; graceSeconds?: number };
  /** To clinicians: a participant's location changed. */
  locationUpdated: { participantId: string; location: { region: string; description: string }; emergencyContact?: { name: string; phone: string } | undefined };
  participantLeft: { participantId: string; reason: LeaveReason };
  newConsumer: {
    consumerId: string;
    producerId: string;
    participantId: string;
    kind: 'audio' | 'video';
    source: Source;
    rtpParameters: unknown;
    producerPaused: boolean;
  };
  consumerClosed: { consumerId: string };
  /** To a publisher: how many spatial layers of its producer anyone needs now (dynacast). */
  layersNeeded: { producerId: string; spatialLayers: number };
  /** Everyone: the room's dominant speaker changed. */
  activeSpeaker: SpeakerInfo;
  consumerPaused: { consumerId: string };
  consumerResumed: { consumerId: string };
  producerClosed: { producerId: string; participantId: string };
  roomClosed: { reason: RoomCloseReason };
  /** To clinicians: a panic alarm in the room (the same payload as panic:alert on /safety). */
  panicAlert: Record<string, unknown>;
  serverDraining: { deadlineSeconds: number };
  kicked: { reason: string };
  /** To one participant of an encrypted room: a sender key another participant encrypted to it (opaque to the server). */
  e2eeKey: { from: string; epoch: number; blob: string };
  /**
   * To every remaining participant that may receive media, when one who held their keys may no longer
   * (left, kicked, consent withdrawn, grace expired): make a new sender key, send it to `recipients`
   * (the others that may receive the receiver's media).
   */
  e2eeRekey: { reason: RekeyReason; participantId: string; recipients: string[] };
  /**
   * To a participant that resumed, after the notifications queued while it was away, when more were
   * sent meanwhile than the queue holds: `count` later ones were dropped, so its view of the room is
   * stale (docs/protocol.md, "Reconnection").
   */
  notificationsDropped: { count: number };
}
export type NotificationName = keyof Notifications;
