import type { E2ee } from './e2ee.ts';
import type { JoinResult } from './protocol.ts';
import type { SignallingClient } from './signalling.ts';

/**
 * The session's end-to-end encryption wiring (e2ee.ts does the keys): started from a join
 * response, fed the key notifications, and keys sent again after a resume.
 */

/** The room's E2EE state from the join response: keys made and sent before any media is set up. */
export async function startE2ee(e2ee: E2ee, sig: SignallingClient, joined: JoinResult): Promise<void> {
  await e2ee.start({
    room: joined.roomId,
    self: joined.participantId,
    view: joined.e2ee,
    send: (epoch, keys) => sig.request('e2eeKeys', { epoch, keys }),
  });
}

/** One attempt's key notifications: a sender key for us, and the server's call to rotate ours. */
export function wireE2ee(e2ee: E2ee, sig: SignallingClient, live: () => boolean): void {
  sig.onNotification('e2eeKey', (d) => { if (live()) void e2ee.keyReceived(d.from, d.epoch, d.blob); });
  sig.onNotification('e2eeRekey', (d) => { if (live()) void e2ee.rekey(d.recipients); });
}

/**
 * After a resume (or notificationsDropped): keys sent to us while our socket was down were lost,
 * and we may have missed joins: the response's peers are known, and every participant gets our key again.
 */
export function keysAgain(e2ee: E2ee, joined: JoinResult, to: readonly string[] = joined.participants.map((p) => p.participantId)): void {
  for (const p of joined.e2ee?.peers ?? []) e2ee.peerJoined(p.participantId, p.publicKey);
  e2ee.resendTo(to);
}
