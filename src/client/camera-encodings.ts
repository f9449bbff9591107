/** How the camera is sent (media-link.ts publishes it; the server picks the layers each viewer gets). */

/** Camera simulcast: three layers from the 1280x720 capture; the server picks one per viewer. */
export const CAMERA_ENCODINGS: RTCRtpEncodingParameters[] = [
  { scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/** Camera SVC: one VP9 stream with 3 spatial x 3 temporal layers, keyframe-dependent only (k-SVC). */
export const SVC_MODE = (spatialLayers: number) => (spatialLayers > 1 ? `L${spatialLayers}T3_KEY` : 'L1T3');
export const SVC_ENCODINGS: RTCRtpEncodingParameters[] = [{ scalabilityMode: SVC_MODE(3), maxBitrate: 1_500_000 } as RTCRtpEncodingParameters];

/** What the join response asks of the camera: VP8 simulcast, or VP9 SVC when the browser can. */
export type VideoPublishing = 'vp8-simulcast' | 'vp9-svc';
