import { t, tDynamic } from './i18n/language.ts';

/** Camera capture size: 1280x720 lets the browser send three simulcast layers. */
export const CAMERA_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30, max: 30 },
};

export const MIC_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

/**
 * Opens the microphone and/or camera. When both are wanted and that fails (one device missing,
 * busy, or refused), each is tried alone, so a person with a broken camera can still be heard.
 * Never throws: `problem` says, in words (of the page's language when called), what could not be opened.
 */
export async function captureLocalMedia(
  sources: readonly ('mic' | 'camera')[],
  devices: { readonly audio?: string | undefined; readonly video?: string | undefined } = {},
): Promise<{ stream?: MediaStream; problem?: () => string }> {
  const wantMic = sources.includes('mic');
  const wantCamera = sources.includes('camera');
  if (!wantMic && !wantCamera) return {};
  if (!navigator.mediaDevices?.getUserMedia) {
    return { problem: () => t('capture.noApi') };
  }
  const open = (mic: boolean, camera: boolean) => navigator.mediaDevices.getUserMedia({
    audio: mic ? withDevice(MIC_CONSTRAINTS, devices.audio) : false,
    video: camera ? withDevice(CAMERA_CONSTRAINTS, devices.video) : false,
  });
  try {
    return { stream: await open(wantMic, wantCamera) };
  } catch (err) {
    if (!(wantMic && wantCamera)) return { problem: () => t(wantMic ? 'capture.mic' : 'capture.camera', { reason: reason(err) }) };
  }
  const stream = new MediaStream();
  const missing: string[] = [];
  let why: unknown;
  for (const [mic, camera, name] of [[true, false, 'microphone'], [false, true, 'camera']] as const) {
    try {
      for (const track of (await open(mic, camera)).getTracks()) stream.addTrack(track);
    } catch (err) {
      missing.push(name);
      why = err;
    }
  }
  const key = missing.length === 2 ? 'capture.both' : missing[0] === 'microphone' ? 'capture.mic' : 'capture.camera';
  const problem = () => t(key, { reason: reason(why) });
  return stream.getTracks().length > 0 ? { stream, problem } : { problem };
}

/** A chosen device (from enumerateDevices), preferred: if it is gone, the browser opens another rather than none. */
function withDevice(constraints: MediaTrackConstraints, deviceId: string | undefined): MediaTrackConstraints {
  return deviceId ? { ...constraints, deviceId: { ideal: deviceId } } : constraints;
}

/** Why a device could not be opened, in words (the browser's own message for an unusual error). */
function reason(err: unknown): string {
  const name = err instanceof DOMException ? err.name : '';
  return tDynamic(`capture.${name}`, {}, err instanceof Error ? err.message : String(err));
}
