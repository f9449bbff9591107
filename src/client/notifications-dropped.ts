import { keysAgain } from './e2ee-session.ts';
import { codeOf } from './errors.ts';
import type { MediaLink } from './media-link.ts';
import type { SessionCore } from './session-core.ts';
import { planAfterDrop, type RecvState } from './drop-plan.ts';

/**
 * `notificationsDropped {count}` (docs/protocol.md "Notifications"): more than 500 notifications
 * were sent while our connection was down and the last `count` of them are lost, so the queued
 * ones just delivered end early. The resume's join response is the room as it is now: the
 * participants are taken from it again, the consumers rebuilt (recv transport closed, a new one
 * gets a newConsumer per producer we may receive), and in an encrypted room every peer gets our
 * current sender key again.
 */

/** Recv transports being replaced (closed on the server, no new one yet), per media link. */
const replacing = new WeakMap<MediaLink, { transportId: string; running: Promise<void> | undefined }>();

function recvState(link: MediaLink | undefined): RecvState {
  if (!link || link.closed) return 'none';
  if (replacing.has(link)) return 'replacing';
  return link.transportState('recv') === undefined ? 'none' : 'open';
}

export async function onNotificationsDropped(core: SessionCore, gen: number, count: number): Promise<void> {
  const joined = core.joined;
  if (!joined) return;
  console.info(`session: ${count} notifications dropped while away; the room is taken from the join response`);
  const link = core.media.link;
  const plan = planAfterDrop({
    present: joined.participants.map((p) => p.participantId),
    self: joined.participantId,
    recv: recvState(link),
    encrypted: core.e2ee.active,
  });
  core.roster.reconcile(joined.participants);
  core.roster.setSpeaker(joined.activeSpeaker);
  if (plan.keysTo.length > 0) keysAgain(core.e2ee, joined, plan.keysTo);
  if (plan.rebuildRecv && link) await rebuildRecv(core, link, gen);
}

/** A resume: a recv transport whose replacement an earlier drop could not finish (the connection went again) is replaced now. */
export async function finishRecvRebuild(core: SessionCore, gen: number): Promise<void> {
  const link = core.media.link;
  if (link && recvState(link) === 'replacing') await rebuildRecv(core, link, gen);
}

/** Closes `link`'s recv transport (here and on the server) and opens a new one; one at a time per link. */
function rebuildRecv(core: SessionCore, link: MediaLink, gen: number): Promise<void> {
  const earlier = replacing.get(link);
  if (earlier?.running) return earlier.running;
  const sig = core.sig;
  if (!sig) return Promise.resolve();
  const transportId = link.detachRecv() ?? earlier?.transportId;
  if (!transportId) return Promise.resolve();
  const entry: { transportId: string; running: Promise<void> | undefined } = { transportId, running: undefined };
  replacing.set(link, entry);
  entry.running = (async () => {
    await sig.closeTransports([transportId]);
    // Re-checked after the await: a teardown, a restore or Try again may have replaced the link.
    if (gen !== core.generation || core.media.link !== link || link.closed) return;
    await link.openRecv({ dropOffered: true });
    replacing.delete(link);
  })().catch((err: unknown) => {
    // Dropped again (the next resume finishes it), or refused: said in the log, the session goes on.
    console.info(`session: new recv transport after dropped notifications failed (${codeOf(err)})`);
  }).finally(() => { entry.running = undefined; });
  return entry.running;
}
