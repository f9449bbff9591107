import { createHmac } from 'node:crypto';

/**
 * Short-lived TURN credentials in coturn's REST scheme (`use-auth-secret`, the "TURN REST API"
 * draft): the username is `<expiry, unix seconds>:<subject>` and the credential is
 * base64(HMAC-SHA1(static-auth-secret, username)). coturn recomputes the HMAC from the username it
 * is sent and refuses an allocation whose expiry has passed; nothing is shared but the secret.
 *
 * coturn checks the expiry when an allocation is created, not on its refreshes: an allocation made
 * in time outlives its credential. A new allocation (an ICE restart) needs a fresh credential,
 * which is why restartIce answers with new iceServers too (docs/protocol.md).
 */

export interface TurnSettings {
  /** turn: / turns: URLs of the coturn servers sharing the secret. */
  readonly urls: readonly string[];
  /** coturn's static-auth-secret. */
  readonly secret: string;
  readonly ttlSeconds: number;
}

export interface TurnCredential {
  readonly username: string;
  readonly credential: string;
  /** Unix seconds after which coturn refuses a new allocation with it. */
  readonly expiresAt: number;
}

/** An RTCIceServer entry (the shape of `media.iceServers`). */
export interface IceServerEntry {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/**
 * Mints one credential for `subject` valid `ttlSeconds` from `nowMs`. The subject must not contain
 * ':' (coturn takes the expiry as the part before the first one).
 */
export function mintTurnCredential(secret: string, subject: string, ttlSeconds: number, nowMs = Date.now()): TurnCredential {
  if (subject.length === 0 || subject.includes(':')) throw new Error('a TURN username subject must be non-empty and contain no colon');
  const expiresAt = Math.floor(nowMs / 1000) + Math.floor(ttlSeconds);
  const username = `${expiresAt}:${subject}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt };
}

/**
 * The iceServers a client gets: the static `media.iceServers`, then (when TURN is configured) one
 * entry for the TURN URLs with a credential minted for `subject`. The subject is the participant
 * id (random per session, docs/operations.md "TURN"): coturn logs usernames, and an identity there
 * would follow a person across sessions in logs the SFU's redaction does not cover.
 */
export function iceServersFor(staticServers: readonly IceServerEntry[], turn: TurnSettings, subject: string, nowMs = Date.now()): IceServerEntry[] {
  const out: IceServerEntry[] = staticServers.map((s) => ({ ...s, urls: Array.isArray(s.urls) ? [...s.urls] : s.urls }));
  if (turn.urls.length === 0) return out;
  const { username, credential } = mintTurnCredential(turn.secret, subject, turn.ttlSeconds, nowMs);
  out.push({ urls: [...turn.urls], username, credential });
  return out;
}
