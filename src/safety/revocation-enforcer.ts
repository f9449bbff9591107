import { revokes, type Revocation } from '../auth/revocations.ts';
import type { Participant } from '../room/participant.ts';
import type { RoomRegistry } from '../room/registry.ts';
import { retry, type RetryOptions } from '../shared/retry.ts';
import type { Store } from '../store/types.ts';
import type { Logger } from '../telemetry/logger.ts';

/** A signalling connection, joined or not (SignallingSession). */
export interface RevocableSession {
  readonly grant: { readonly room: string; readonly identity: string; readonly tokenId: string | undefined };
  close(code: number, reason: string): void;
}

/** The /safety sockets (PanicSocketServer): disconnects those a revocation denies; returns how many. */
export interface RevocableSockets {
  disconnectRevoked(r: Revocation): number;
}

export interface RevocationEnforcerOptions {
  readonly rooms: RoomRegistry;
  readonly sessions: Iterable<RevocableSession>;
  /** The close code for a revoked signalling connection (CLOSE_CODES.FORBIDDEN, 4403). */
  readonly sessionCloseCode: number;
  readonly safety: RevocableSockets;
  readonly store: Pick<Store, 'audit'>;
  readonly log: Logger;
  /** How the audit entries are retried when the store fails (default 5 tries from 200 ms). */
  readonly auditRetry?: RetryOptions;
}

export interface Enforcement {
  readonly participants: number;
  readonly sessions: number;
  readonly safetySockets: number;
  /** Settles once every removal is audited (or its retries ran out, which is logged). */
  readonly audited: Promise<void>;
}

/** The participants of the revocation's room on this node that it denies. */
export function revokedParticipants(rooms: RoomRegistry, r: Revocation): Participant[] {
  return rooms.get(r.room)?.participants.filter((p) => revokes(r, p.identity, p.grant.tokenId)) ?? [];
}

/**
 * Makes a revocation bite everywhere on this node at once, synchronously: the participants it
 * denies are told `kicked` and removed from the room, the /safety sockets of the identity (or token
 * id) for the room are disconnected, and its signalling connections, joined or not, are closed with
 * 4403 IDENTITY_REVOKED. Only then are the removals audited, each retried on its own, so that a store
 * failure never holds up or stops enforcement. Idempotent: a second run finds nobody left to remove.
 */
export function enforceRevocation(o: RevocationEnforcerOptions, r: Revocation, actor: string): Enforcement {
  const room = o.rooms.get(r.room);
  const removed = revokedParticipants(o.rooms, r);
  for (const p of removed) {
    p.notify('kicked', { reason: r.reason });
    room?.remove(p, 'KICKED');
  }
  const safetySockets = o.safety.disconnectRevoked(r);
  let sessions = 0;
  for (const s of [...o.sessions]) {
    if (s.grant.room !== r.room || !revokes(r, s.grant.identity, s.grant.tokenId)) continue;
    s.close(o.sessionCloseCode, 'IDENTITY_REVOKED');
    sessions++;
  }
  if (removed.length + sessions + safetySockets > 0) {
    o.log.info({ actor, participants: removed.length, sessions, safetySockets }, 'revocation enforced');
  }
  const opts = o.auditRetry ?? { attempts: 5, baseDelayMs: 200 };
  const audited = (async () => {
    for (const p of removed) {
      const entry = { room: r.room, kind: 'participant.kicked', actor, detail: { sessionId: p.id, identity: p.identity, role: p.role }, at: new Date() };
      await retry(() => o.store.audit(entry), opts)
        .catch((err: unknown) => o.log.error({ err, actor, attempts: opts.attempts }, 'could not audit a revocation removal'));
    }
  })();
  return { participants: removed.length, sessions, safetySockets, audited };
}
