import type { E2ee } from './e2ee.ts';
import type { JoinResult } from './protocol.ts';
import { nodeOriginOf, redirectUrl } from './redirect.ts';
import type { JoinOptions } from './session-types.ts';
import { SignallingClient, SignallingError } from './signalling.ts';
import { mark } from './timeline.ts';

/** Redirects (ROOM_ELSEWHERE) followed for one join before giving up: a room can be re-placed once between two joins. */
const MAX_REDIRECTS = 2;

/** What a join attempt does with each signalling client it opens (session.ts). */
export interface JoinHooks {
  readonly e2ee: E2ee;
  /** A new client: it becomes the session's, with its notifications wired. */
  opened(sig: SignallingClient): void;
  /** A client left behind by a redirect: no longer the session's (its close is not the session's end). */
  dropped(sig: SignallingClient): void;
  /** Throws when a newer attempt replaced this one. */
  check(): void;
}

/**
 * Opens signalling and joins; a join answered ROOM_ELSEWHERE (the room is hosted by another node,
 * docs/protocol.md "Joining through any node") is sent again, with the same token and data, on
 * that node's /rtc: at most MAX_REDIRECTS times, then TOO_MANY_REDIRECTS.
 */
export async function connectAndJoin(opts: JoinOptions, hooks: JoinHooks): Promise<{ sig: SignallingClient; joined: JoinResult; origin: string }> {
  let url = opts.url;
  for (let redirects = 0; ; redirects++) {
    // After a redirect, reconnection falls back to the entry point (opts.url): the node may be gone.
    const sig = new SignallingClient({ url, fallbackUrl: url === opts.url ? undefined : opts.url });
    hooks.opened(sig);
    await sig.connect();
    hooks.check();
    mark('connected');
    try {
      // Our E2EE public key, when this browser can encrypt frames (the server decides whether the room is encrypted).
      const publicKey = await hooks.e2ee.publicKey(opts.resumeToken !== undefined);
      const e2ee = publicKey ? { e2ee: { publicKey } } : {};
      const joined = await sig.request('join', opts.resumeToken
        ? { resumeToken: opts.resumeToken, ...(opts.displayName ? { displayName: opts.displayName } : {}), ...e2ee }
        : {
          ...(opts.displayName ? { displayName: opts.displayName } : {}),
          ...(opts.consent ? { consent: opts.consent } : {}),
          ...(opts.location ? { location: opts.location } : {}),
          ...e2ee,
        });
      hooks.check();
      return { sig, joined, origin: hostedAt(sig, joined) };
    } catch (err) {
      const next = err instanceof SignallingError && err.code === 'ROOM_ELSEWHERE' ? redirectUrl(url, err.data?.url) : undefined;
      if (!next) throw err;
      hooks.dropped(sig);
      sig.close();
      hooks.check();
      if (redirects >= MAX_REDIRECTS) throw new SignallingError('TOO_MANY_REDIRECTS', `the session's server changed ${redirects + 1} times while joining`);
      mark('redirected');
      url = next;
    }
  }
}

/**
 * The origin of the node hosting the session: the one the join response names (several nodes
 * behind a load balancer), where reconnections then go first; else the one signalling reached.
 */
export function hostedAt(sig: SignallingClient, joined: JoinResult): string {
  const direct = joined.nodeUrl ? redirectUrl(sig.url, joined.nodeUrl) : undefined;
  if (!direct) return nodeOriginOf(sig.url);
  sig.preferUrl(direct);
  return nodeOriginOf(direct);
}
