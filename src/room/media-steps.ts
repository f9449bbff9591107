import { SfuError, errorMessage } from '../shared/errors.ts';
import type { StepState } from '../shared/serial.ts';

/** Maps failures from mediasoup (bad parameters are TypeErrors) to coded errors. */
export function mediaError(err: unknown): SfuError {
  if (err instanceof SfuError) return err;
  // mediasoup refuses bad parameters with TypeError, and codecs or profiles the router lacks with UnsupportedError.
  if (err instanceof TypeError || (err instanceof Error && err.name === 'UnsupportedError')) return new SfuError('INVALID_REQUEST', errorMessage(err));
  // A request in flight when the worker dies (or closes) fails with mediasoup's WorkerClosedError
  // (3.21+; InvalidStateError before): the router is gone and the room closes with WORKER_DIED.
  if (err instanceof Error && err.name === 'WorkerClosedError') return new SfuError('ROOM_CLOSED', `the media worker closed: ${err.message}`);
  return new SfuError('MEDIA_ERROR', errorMessage(err));
}

/** Runs `check` unless the step was abandoned past its deadline (then throws MEDIA_ERROR). */
export function assertLive(step: StepState, check: () => void): void {
  if (step.abandoned) throw new SfuError('MEDIA_ERROR', 'abandoned past the step deadline');
  check();
}

/** Runs `check`; when it throws, closes the just-created `object` and rethrows. */
export function closeUnless(object: { close(): void }, check: () => void): void {
  try {
    check();
  } catch (err) {
    object.close();
    throw err;
  }
}
