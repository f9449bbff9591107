/**
 * The resume token of this tab's session, kept in sessionStorage (this tab only, gone when the tab
 * closes, cleared on leave) so that a reload within the server's grace period resumes the session
 * instead of asking for consent again. Kept with the room and identity of the link it belongs to (read
 * from the token, unverified), so another link opened in the tab never tries it. Never the link's token.
 */
const KEY = 'sfu.resume.v1';

interface Entry {
  readonly resumeToken: string;
  readonly room: string;
  readonly identity: string;
}

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}

/** The room and identity a token names (decoded without verification: only to match an entry). */
export function tokenSubject(token: string): { room: string; identity: string; role?: string } | undefined {
  try {
    const json = atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { room?: unknown; sub?: unknown; role?: unknown };
    if (typeof claims.sub !== 'string') return undefined;
    return { room: typeof claims.room === 'string' ? claims.room : '', identity: claims.sub, ...(typeof claims.role === 'string' ? { role: claims.role } : {}) };
  } catch {
    return undefined;
  }
}

export function saveResume(token: string, resumeToken: string): void {
  const who = tokenSubject(token);
  if (!who) return;
  try {
    storage()?.setItem(KEY, JSON.stringify({ resumeToken, room: who.room, identity: who.identity } satisfies Entry));
  } catch {
    // Storage refused: a reload asks for the form again.
  }
}

/** The resume token saved for this link's room and identity, if any. */
export function loadResume(token: string): string | undefined {
  const who = tokenSubject(token);
  try {
    const raw = storage()?.getItem(KEY);
    const e = raw ? JSON.parse(raw) as Partial<Entry> : undefined;
    return who && e && e.room === who.room && e.identity === who.identity && typeof e.resumeToken === 'string' ? e.resumeToken : undefined;
  } catch {
    return undefined;
  }
}

export function clearResume(): void {
  try {
    storage()?.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
