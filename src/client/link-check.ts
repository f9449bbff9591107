import type { Role, Source } from './protocol.ts';
import type { E2eeMode } from './e2ee.ts';

/** The server's answer to POST /api/link-check for a room token (docs/protocol.md, "Checking a link"). */
export interface RoomLink {
  readonly kind: 'room';
  readonly role: Role;
  readonly room: string;
  readonly expiresAt: string;
  readonly permissions: { readonly publish: Source[]; readonly subscribe: boolean };
  readonly consent: { readonly policyVersion: string; readonly policyVersions: string[] };
  readonly requires: { readonly location: boolean; readonly emergencyContact: boolean; readonly guardianConsent: boolean };
  /** The room's end-to-end encryption mode (absent from servers without it: off). */
  readonly e2ee?: E2eeMode;
}

export type LinkCheck =
  | RoomLink
  | { readonly kind: 'desk'; readonly role: 'desk'; readonly expiresAt: string }
  | { readonly kind: 'error'; readonly code: string };

/**
 * Asks the server whether the link's token would be let in, before any form is shown. The token
 * goes in the body (never the URL); nothing is admitted or recorded. Never throws: a network
 * failure is `SERVER_UNREACHABLE`.
 */
export async function checkLink(token: string, room: string | undefined, timeoutMs = 10_000): Promise<LinkCheck> {
  try {
    const res = await fetch(new URL('/api/link-check', location.href), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, ...(room ? { room } : {}) }),
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await res.json().catch(() => undefined) as { kind?: string; error?: { code?: string } } | undefined;
    if (res.ok && (body?.kind === 'room' || body?.kind === 'desk')) return body as LinkCheck;
    return { kind: 'error', code: body?.error?.code ?? (res.status === 404 ? 'LINK_CHECK_UNAVAILABLE' : 'INTERNAL_ERROR') };
  } catch {
    return { kind: 'error', code: 'SERVER_UNREACHABLE' };
  }
}
