import type { MediaLink } from './media-link.ts';
import { codeOf } from './errors.ts';

/**
 * What a screen share is captured at: detail before motion (therapy materials, worksheets,
 * slides). At most 1920x1080 (a 4K screen is scaled down, so its text stays about the size it is
 * on a 1080p screen) and 15 frames a second.
 */
export const SCREEN_CONSTRAINTS: DisplayMediaStreamOptions = {
  video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } },
  audio: false,
};

/**
 * The screen's own layer policy (docs/forwarding.md, "Screen sharing"): three VP8 simulcast
 * encodings, a quarter size at 5 frames/s for filmstrip thumbnails, half size at 5 frames/s for
 * weak links, full size at up to 15 frames/s for the stage. The server gives a thumbnail the lowest
 * and any larger tile the top one (src/room/viewport.ts); the bandwidth estimate may hold it lower.
 */
export const SCREEN_ENCODINGS: RTCRtpEncodingParameters[] = [
  { scaleResolutionDownBy: 4, maxBitrate: 150_000, maxFramerate: 5 },
  { scaleResolutionDownBy: 2, maxBitrate: 600_000, maxFramerate: 5 },
  { scaleResolutionDownBy: 1, maxBitrate: 2_500_000, maxFramerate: 15 },
];

/**
 * One person's screen share: getDisplayMedia, published as source `screen`, stopped by the page's
 * button, by the browser's own "Stop sharing" (the track ends), or with the session. The track
 * survives a re-join of the session (published again on the new media link) until stopped.
 */
export class ScreenShare {
  #track: MediaStreamTrack | undefined;
  readonly #onChange: (stream: MediaStream | undefined) => void;
  /** The link the track is published on now (to close its producer when the track ends). */
  #link: MediaLink | undefined;

  constructor(onChange: (stream: MediaStream | undefined) => void) {
    this.#onChange = onChange;
  }

  get active(): boolean { return this.#track?.readyState === 'live'; }

  /** Whether this browser can share a screen at all (desktop browsers; not iOS or most Android). */
  static supported(): boolean {
    return typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  }

  /** Asks the person what to share, then publishes it. Throws a coded error (e.g. the person cancelled: NotAllowedError). */
  async start(link: MediaLink): Promise<void> {
    if (this.active) return;
    const stream = await navigator.mediaDevices.getDisplayMedia(SCREEN_CONSTRAINTS);
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error('no video track was shared');
    // Encoders keep text sharp: resolution is held, the frame rate drops when bits are short.
    track.contentHint = 'detail';
    track.addEventListener('ended', () => { if (this.#track === track) void this.stop(); });
    this.#track = track;
    this.#onChange(new MediaStream([track]));
    try {
      await this.publish(link);
    } catch (err) {
      void this.stop();
      throw err;
    }
  }

  /** Publishes the live track on `link` (after start, or on a re-joined session's new link). */
  async publish(link: MediaLink): Promise<void> {
    const track = this.#track;
    if (!track || track.readyState !== 'live' || link.closed) return;
    this.#link = link;
    const producer = await link.produceSource('screen', {
      track,
      encodings: SCREEN_ENCODINGS,
      codecOptions: { videoGoogleStartBitrate: 1000 },
    });
    if (!producer || !producer.rtpSender) return;
    // The server's first layersNeeded may set the same sender's encodings meanwhile (dynacast,
    // setMaxSpatialLayer): a setParameters between another's get and set is refused
    // (InvalidStateError / InvalidModificationError), so read the parameters afresh and try again.
    const sender = producer.rtpSender;
    for (let attempt = 1; ; attempt++) {
      const params = sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      try {
        await sender.setParameters(params);
        return;
      } catch (err) {
        if (attempt >= 3 || producer.closed) {
          console.warn(`screen: degradationPreference not set (${codeOf(err)})`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  /** Stops sharing: the producer closes (the others' screen tiles go away) and the capture ends. */
  async stop(): Promise<void> {
    const track = this.#track;
    const link = this.#link;
    this.#track = undefined;
    this.#link = undefined;
    if (!track) return;
    track.stop();
    this.#onChange(undefined);
    await link?.closeSource('screen');
  }
}
