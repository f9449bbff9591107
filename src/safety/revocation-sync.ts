import type { Revocation } from '../auth/revocations.ts';
import type { RoomRegistry } from '../room/registry.ts';
import type { Store } from '../store/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { PersistentRevocationList } from './persistent-revocations.ts';

/**
 * Removes the participants a revocation denies from their room on this node (told `kicked` with
 * the reason), auditing each removal. Returns how many were removed.
 */
export async function removeRevoked(rooms: RoomRegistry, store: Store, r: Revocation, actor: string): Promise<number> {
  const room = rooms.get(r.room);
  if (!room) return 0;
  const targets = room.participants.filter((p) => (r.identity !== undefined && p.identity === r.identity) || (r.tokenId !== undefined && p.grant.tokenId === r.tokenId));
  for (const p of targets) {
    p.notify('kicked', { reason: r.reason });
    room.remove(p, 'KICKED');
    await store.audit({ room: r.room, kind: 'participant.kicked', actor, detail: { sessionId: p.id, identity: p.identity, role: p.role }, at: new Date() });
  }
  return targets.length;
}

/**
 * Nodes sharing a store: every `seconds`, re-reads the revocations and removes the participants a
 * revocation made elsewhere denies. A store that does not answer is retried on the next tick.
 * Returns the stop function.
 */
export function startRevocationSync(opts: { revocations: PersistentRevocationList; rooms: RoomRegistry; store: Store; seconds: number; log: Logger }): () => void {
  if (opts.seconds <= 0) return () => undefined;
  let busy = false;
  const tick = async () => {
    const fresh = await opts.revocations.refresh();
    for (const r of fresh) {
      const removed = await removeRevoked(opts.rooms, opts.store, r, 'revocation-sync');
      if (removed > 0) opts.log.info({ removed }, 'revocation from another node enforced');
    }
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    tick().catch((err: unknown) => opts.log.warn({ err }, 'revocation sync failed; retrying')).finally(() => { busy = false; });
  }, opts.seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
