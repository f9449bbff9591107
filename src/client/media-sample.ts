import type { Source } from '../domain/roles.ts';

/**
 * What the media checks (media-health.ts) and the tiles' quality (quality.ts) read from a media
 * link: plain data, no browser types (the unit tests run them in Node).
 */

export type Direction = 'send' | 'recv';

/** A transport's connection state, as mediasoup-client names it. */
export type TransportState = 'new' | 'connecting' | 'connected' | 'failed' | 'disconnected' | 'closed';

/** One inbound RTP stream of the recv transport, from getStats(). */
export interface InboundStat {
  /** The stats object's id: stable for one stream across calls. */
  id: string;
  consumerId: string;
  participantId: string;
  source: Source;
  kind: 'audio' | 'video';
  packetsReceived: number;
  bytesReceived: number;
  packetsLost?: number;
  /** Seconds (RTP timestamp jitter, as the browser reports it). */
  jitter?: number;
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
  /** Video: decoded frames per second over the browser's last second. */
  framesPerSecond?: number;
  /** Video: freezes the browser counted so far (a frame late by far more than usual). */
  freezeCount?: number;
  /** Video: seconds spent frozen so far (the sum of those freezes). */
  totalFreezesDuration?: number;
  /** Audio: samples played out so far, and how many of them the decoder made up (loss concealment). */
  totalSamplesReceived?: number;
  concealedSamples?: number;
}

/** One outbound RTP stream of the send transport: a simulcast encoding or the SVC stream of the camera, or the microphone's stream. */
export interface OutboundStat {
  id: string;
  kind: 'audio' | 'video';
  /** The simulcast encoding's rid (absent for a single SVC stream and for audio). */
  rid?: string;
  /** Whether the encoding is enabled (dynacast disables encodings nobody needs). */
  active?: boolean;
  codec?: string;
  scalabilityMode?: string;
  bytesSent: number;
  packetsSent: number;
  frameWidth?: number;
  frameHeight?: number;
}

/** A live consumer of the recv transport, as the stats are matched to it. */
export interface ConsumerRef {
  readonly consumerId: string;
  readonly participantId: string;
  readonly source: Source;
  readonly kind: 'audio' | 'video';
  /**
   * Media should be arriving: neither its sender paused it (consumerPaused) nor the server paused
   * it because its tile is hidden (setViewport answered `paused`).
   */
  readonly expected: boolean;
}

/** One getStats() of the recv transport, read for the media checks and the tiles' quality. */
export interface RecvSample {
  /** performance.now() when it was taken. */
  readonly at: number;
  /** The recv transport's connection state then. */
  readonly state: string;
  readonly consumers: readonly ConsumerRef[];
  /** Inbound streams of those consumers (a consumer that has had no packet yet may have none). */
  readonly inbound: readonly InboundStat[];
  /** Seconds: the selected candidate pair's currentRoundTripTime (ICE consent checks). */
  readonly rtt: number | undefined;
}

/** The ICE path a transport uses now: its selected candidate pair, from getStats(). */
export interface IcePath {
  direction: 'send' | 'recv';
  /** The local candidate's type: host, srflx, prflx or relay (relay: through the TURN server). */
  localType: string;
  /** udp or tcp between this browser and the SFU, or the TURN server when relayed. */
  protocol: string;
  /** With a relay candidate: how this browser reaches the TURN server (udp, tcp or tls). */
  relayProtocol?: string;
  remoteType: string;
  /** The server's end (or the TURN server's, relayed): the address the browser reached, e.g. media.announcedIp. */
  remoteAddress?: string;
  remotePort?: number;
  /** This browser's end (absent where the browser hides it); relayed: the TURN allocation's relayed address and port. */
  localAddress?: string;
  localPort?: number;
  /** The pair's state (succeeded once connectivity checks passed). */
  state: string;
}
