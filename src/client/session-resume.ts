import { t } from './i18n/language.ts';
import { codeOf, messageOf } from './errors.ts';
import { keysAgain } from './e2ee-session.ts';
import { redirectUrl } from './redirect.ts';
import type { SessionCore } from './session-core.ts';
import { hostedAt } from './session-join.ts';
import { finishRecvRebuild } from './notifications-dropped.ts';
import { Superseded } from './session-types.ts';
import { SignallingError, type SignallingClient } from './signalling.ts';
import { mark } from './timeline.ts';

/**
 * The socket is back: resume the participant, or join afresh (`rejoin`) when the grace period ran
 * out. A resume answered ROOM_ELSEWHERE (the room's node was lost and the room placed on another
 * one) is sent again there; a session restored on another node sets up its media again.
 */
export async function resume(core: SessionCore, sig: SignallingClient, gen: number, rejoin: () => Promise<void>): Promise<void> {
  const resumeToken = core.joined?.resumeToken;
  if (!resumeToken) return;
  try {
    const displayName = core.opts?.displayName;
    const joined = await sig.request('join', { resumeToken, ...(displayName ? { displayName } : {}) });
    if (gen !== core.generation) return;
    core.joined = joined;
    const away = core.roster.reconcile(joined.participants);
    core.roster.setSpeaker(joined.activeSpeaker);
    keysAgain(core.e2ee, joined);
    if (joined.restored && away.length > 0) {
      const n = away.length;
      core.events.emit('notice', () => t('notice.notBack', { n }));
    }
    sig.settled();
    const origin = hostedAt(sig, joined);
    if (origin !== core.nodeOrigin) {
      core.nodeOrigin = origin;
      core.events.emit('nodeChanged', origin);
    }
    if (joined.restored) {
      mark('restored');
      core.events.emit('notice', () => t('notice.moved'));
      await core.media.setUp(sig, joined, gen);
    } else {
      core.media.link?.restartStalledIce();
      // A recv transport an earlier notificationsDropped could not replace (we were dropped again meanwhile).
      void finishRecvRebuild(core, gen);
    }
    core.setState('joined');
  } catch (err) {
    if (gen !== core.generation || err instanceof Superseded) return;
    const code = codeOf(err);
    console.info(`session: resume answered ${code}`);
    // Dropped again mid-resume: the signalling client reconnects (and we resume) or gives up.
    if (code === 'CONNECTION_LOST' || code === 'NOT_CONNECTED') return;
    const next = code === 'ROOM_ELSEWHERE' && err instanceof SignallingError ? redirectUrl(sig.url, err.data?.url) : undefined;
    if (next) {
      mark('redirected');
      sig.moveTo(next);
      return;
    }
    if (code !== 'RESUME_TOKEN_INVALID') {
      core.fail(code, messageOf(err));
      return;
    }
    core.events.emit('notice', () => t('notice.rejoining'));
    core.teardown(false);
    core.setState('joining');
    await rejoin();
  }
}
