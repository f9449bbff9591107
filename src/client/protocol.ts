/**
 * The signalling protocol as the browser sees it. Notifications and participant shapes come
 * from the server's own definitions (src/signalling/protocol.ts, type-only imports, erased by
 * the bundler), so client and server cannot drift apart silently; request and response shapes
 * per method are spelled out here.
 */
import type { RtpCapabilities, RtpParameters, DtlsParameters, IceParameters, IceCandidate, MediaKind } from 'mediasoup-client/types';
import type { Notifications, NotificationName, ParticipantInfo, ProducerInfo, SafetyView } from '../domain/notifications.ts';
import type { Role, Source } from '../domain/roles.ts';
import type { ConsentInput, LocationInput } from '../domain/consent-location.ts';
import type { E2eeJoinView } from './e2ee.ts';

export type { Notifications, NotificationName, ParticipantInfo, ProducerInfo, SafetyView, Role, Source, ConsentInput, LocationInput };
export type ConsentScope = ConsentInput['scopes'][number];

export interface JoinResult {
  participantId: string;
  identity: string;
  role: Role;
  roomId: string;
  resumeToken: string;
  resumed: boolean;
  /** With several nodes: the URL of the node hosting the session (the panic channel connects there; reconnections try it first). */
  nodeUrl?: string;
  /** The session was restored on another node after its node was lost: set up media again (docs/scaling.md, "Node loss"). */
  restored?: boolean;
  routerRtpCapabilities: RtpCapabilities;
  participants: ParticipantInfo[];
  /** The room's dominant speaker when the join was answered (absent when there is none); changes come as activeSpeaker. */
  activeSpeaker?: { participantId: string; producerId: string };
  iceServers: RTCIceServer[];
  permissions: { publish: Source[]; subscribe: boolean };
  /** Our consent scopes in force (absent from older servers): without telehealth, no media until grantConsent. */
  consentScopes?: string[];
  /** How to send the camera: VP8 simulcast, or VP9 SVC (config media.videoPublishing). */
  videoPublishing?: 'vp8-simulcast' | 'vp9-svc';
  /** The room's end-to-end encryption (absent from servers without it): docs/protocol.md, "End-to-end encryption". */
  e2ee?: E2eeJoinView;
  /** The participant's transports on the server: a resumed session's are those of its earlier connection. */
  transports?: { transportId: string; direction: 'send' | 'recv' }[];
}

export interface TransportInfo {
  transportId: string;
  iceParameters: IceParameters;
  iceCandidates: IceCandidate[];
  dtlsParameters: DtlsParameters;
}

type Empty = Record<string, never>;

/** Method name -> [request data, response data]. */
export interface Methods {
  /** `e2ee.publicKey`: ours (base64url, uncompressed P-256), sent only when this browser can encrypt frames. */
  join: [{ displayName?: string; resumeToken?: string; consent?: ConsentInput; location?: LocationInput; e2ee?: { publicKey: string } }, JoinResult];
  /** Our sender key of `epoch`, wrapped for each recipient (opaque blobs); relayed as e2eeKey. */
  e2eeKeys: [{ epoch: number; keys: { to: string; blob: string }[] }, { delivered: string[]; refused: { to: string; code: string }[] }];
  createTransport: [{ direction: 'send' | 'recv'; rtpCapabilities?: RtpCapabilities }, TransportInfo];
  connectTransport: [{ transportId: string; dtlsParameters: DtlsParameters }, Empty];
  produce: [{ transportId: string; kind: MediaKind; rtpParameters: RtpParameters; source: Source; paused?: boolean }, { producerId: string }];
  closeProducer: [{ producerId: string }, Empty];
  closeTransport: [{ transportId: string }, Empty];
  pauseProducer: [{ producerId: string }, Empty];
  resumeProducer: [{ producerId: string }, Empty];
  pauseConsumer: [{ consumerId: string }, Empty];
  resumeConsumer: [{ consumerId: string }, Empty];
  /** iceServers: the join's again, with a fresh TURN credential when the server mints them (absent from older servers). */
  restartIce: [{ transportId: string }, { iceParameters: IceParameters; iceServers?: RTCIceServer[] }];
  reportMediaProblem: [{ code: string; direction: 'send' | 'recv'; cleared?: boolean }, Record<string, never>];
  withdrawConsent: [{ scopes: ConsentScope[] }, { consentScopes: string[]; mediaAllowed: boolean }];
  grantConsent: [{ consent: ConsentInput }, { consentScopes: string[]; mediaAllowed: boolean }];
  updateLocation: [{ location: LocationInput }, Empty];
  setViewport: [{ consumerId: string; width: number; height: number; visible: boolean }, { paused: boolean; spatialLayer?: number }];
  leave: [Empty, Empty];
}
export type MethodName = keyof Methods;

/** WebSocket close codes the server uses: the server's own table. */
export { CLOSE_CODES as CLOSE } from '../domain/close-codes.ts';
