import { randomBytes, randomUUID } from 'node:crypto';

/** Opaque id for a participant, transport-independent. */
export function newId(): string {
  return randomUUID();
}

/** A secret, URL-safe token (resume tokens, generated secrets). */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
