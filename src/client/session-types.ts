import type { MediaProblem } from './media-health.ts';
import type { RemoteTrack } from './media-link.ts';
import type { TileQuality } from './quality.ts';
import type { ConsentInput, LocationInput, Role, SafetyView } from './protocol.ts';

/** The types of `Session`'s public surface (session.ts re-exports them), shared by its parts. */

export type SessionState = 'idle' | 'joining' | 'joined' | 'reconnecting' | `error:${string}`;

export interface RemoteParticipant {
  readonly participantId: string;
  readonly role: Role;
  /** Location, emergency contact and consent scopes: sent by the server to clinicians only. */
  readonly safety: SafetyView | undefined;
  /** They withdrew consent to the session by video: the server stopped their media. */
  readonly consentWithdrawn: boolean;
  /** Their connection is lost and the server keeps their session for its grace period (participantConnection). */
  readonly reconnecting: boolean;
}

export type SessionEvents = {
  /** The state changed; `detail` says more for errors (a server message or close reason). */
  state: [SessionState, string | undefined];
  /** Something the person should know, in words of the page's language when called. */
  notice: [() => string];
  /** Our own camera/microphone stream (undefined once released). */
  localMedia: [MediaStream | undefined];
  /** Our screen share's stream while we share (undefined once stopped). */
  localScreen: [MediaStream | undefined];
  participantJoined: [RemoteParticipant];
  /** A participant's safety facts, consent or connection changed. */
  participantUpdated: [RemoteParticipant];
  participantLeft: [string];
  trackAdded: [RemoteTrack];
  trackRemoved: [{ participantId: string; consumerId: string }];
  trackPaused: [{ participantId: string; consumerId: string; paused: boolean }];
  /** A panic alarm in the room (sent by the server to clinicians only); the same as /safety's panic:alert. */
  panicAlert: [Record<string, unknown>];
  /** The room's dominant speaker changed (a participant id: ours or a remote one; undefined: nobody, e.g. the speaker left). */
  activeSpeaker: [string | undefined];
  /**
   * The session moved to another node (its node was lost and the session was restored elsewhere,
   * docs/scaling.md "Node loss"): the new http(s) origin, where the panic channel must connect now.
   */
  nodeChanged: [string];
  /** A participant came back after the room's node was lost (their records stand; no new consent). */
  participantRestored: [RemoteParticipant];
  /**
   * Media cannot connect (a coded MediaProblem, media-health.ts), or undefined once it can again:
   * the page shows what to try and a Retry; the code is what the operator logs.
   */
  mediaProblem: [MediaProblem | undefined];
  /** Every few seconds: each remote participant's connection quality (those with media that should arrive). */
  quality: [TileQuality[]];
};

export interface JoinOptions {
  /** ws(s)://host/rtc?token=...[&room=...] */
  readonly url: string;
  readonly displayName?: string;
  /** Required by the server on every new join (not on a resume). */
  readonly consent?: ConsentInput;
  readonly location?: LocationInput;
  /**
   * 'relay': media only through the TURN server of the join response (no direct path is tried).
   * For networks where only the TURN server is reachable, and to check a TURN deployment.
   */
  readonly iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * The pre-join preview (prejoin.ts): becomes the session's camera and microphone, so the devices
   * chosen there are the ones published. Released like any capture (leave, failure, withdrawal).
   */
  readonly media?: MediaStream;
  /** The devices chosen before joining: used whenever the session captures again. */
  readonly devices?: { readonly audio?: string; readonly video?: string };
  /**
   * A resume token of this tab's earlier page (a reload within the grace period): the join resumes
   * that participant (same id, no consent again) and rebuilds its media; RESUME_TOKEN_INVALID otherwise.
   */
  readonly resumeToken?: string;
}

/** Thrown inside an attempt that a newer one (or leave) replaced; never shown. */
export class Superseded extends Error {}
