import { SignallingError } from './signalling.ts';

/** A stable code for anything thrown: the server's code (docs/errors.md), or the client's own. */
export function codeOf(err: unknown): string {
  if (err instanceof SignallingError) return err.code;
  if (err instanceof Error && err.name === 'UnsupportedError') return 'UNSUPPORTED_BROWSER';
  if (err instanceof DOMException) return 'MEDIA_DEVICE_ERROR';
  return 'CLIENT_ERROR';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
