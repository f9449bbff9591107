import { t } from './i18n/language.ts';
import { wireE2ee } from './e2ee-session.ts';
import { onNotificationsDropped } from './notifications-dropped.ts';
import type { SessionCore } from './session-core.ts';
import { resume } from './session-resume.ts';
import type { SignallingClient } from './signalling.ts';

/**
 * One attempt's signalling client wired to the session: the server's notifications (participants,
 * consent, media, the room) and the connection's drops, returns and end. Every handler checks that
 * its attempt (`gen`) is still the session's; `rejoin` joins afresh when a resume is refused.
 */
export function wireSignalling(core: SessionCore, sig: SignallingClient, gen: number, rejoin: () => Promise<void>): void {
  const live = () => gen === core.generation;
  const { roster, media, e2ee, events } = core;
  sig.onNotification('participantJoined', (d) => {
    if (!live()) return;
    roster.add({ ...d, producers: [] });
    e2ee.peerJoined(d.participantId, d.publicKey);
    const back = d.restored ? roster.get(d.participantId) : undefined;
    if (back) events.emit('participantRestored', back);
  });
  sig.onNotification('participantLeft', (d) => live() && roster.remove(d.participantId));
  wireE2ee(e2ee, sig, live);
  sig.onNotification('locationUpdated', (d) => {
    const r = live() ? roster.get(d.participantId) : undefined;
    if (r) roster.update({ ...r, safety: { consentScopes: r.safety?.consentScopes ?? [], location: d.location, emergencyContact: d.emergencyContact } });
  });
  sig.onNotification('consentWithdrawn', (d) => {
    if (!live()) return;
    if (d.participantId === core.joined?.participantId) {
      core.forgetConsent(d.scopes);
      if (d.scopes.includes('telehealth')) media.stop();
      return;
    }
    const r = roster.get(d.participantId);
    if (!r) return;
    roster.update({
      ...r,
      safety: r.safety ? { ...r.safety, consentScopes: r.safety.consentScopes.filter((s) => !d.scopes.includes(s)) } : undefined,
      consentWithdrawn: r.consentWithdrawn || d.scopes.includes('telehealth'),
    });
  });
  sig.onNotification('consentGranted', (d) => {
    const r = live() ? roster.get(d.participantId) : undefined;
    if (!r) return;
    if (d.scopes.includes('telehealth')) e2ee.consentGranted(d.participantId);
    const scopes = [...new Set([...(r.safety?.consentScopes ?? []), ...d.scopes])];
    roster.update({ ...r, safety: r.safety ? { ...r.safety, consentScopes: scopes } : undefined, consentWithdrawn: r.consentWithdrawn && !d.scopes.includes('telehealth') });
  });
  sig.onNotification('participantConnection', (d) => {
    const r = live() ? roster.get(d.participantId) : undefined;
    if (r) roster.update({ ...r, reconnecting: d.state === 'reconnecting' });
    // Back after a drop: keys sent while their socket was down were refused.
    if (r && d.state !== 'reconnecting') e2ee.resendTo([d.participantId]);
  });
  sig.onNotification('newConsumer', (d) => live() && media.allowed && media.link?.offer(d));
  sig.onNotification('consumerClosed', (d) => live() && media.link?.closeConsumer(d.consumerId));
  sig.onNotification('consumerPaused', (d) => live() && media.link?.consumerPaused(d.consumerId, true));
  sig.onNotification('consumerResumed', (d) => live() && media.link?.consumerPaused(d.consumerId, false));
  sig.onNotification('layersNeeded', (d) => live() && media.link?.layersNeeded(d.producerId, d.spatialLayers));
  sig.onNotification('producerClosed', (d) => {
    if (live() && d.producerId === roster.speaker?.producerId) roster.setSpeaker(undefined);
    if (!live() || d.participantId !== core.joined?.participantId) return;
    const source = media.link?.producerClosed(d.producerId);
    if (source === 'screen') void media.screen.stop();
    if (source) events.emit('notice', () => t(source === 'mic' ? 'notice.stoppedMic' : source === 'camera' ? 'notice.stoppedCamera' : 'notice.stoppedScreen'));
  });
  sig.onNotification('notificationsDropped', (d) => { if (live()) void onNotificationsDropped(core, gen, d.count); });
  sig.onNotification('serverDraining', (d) => live() && events.emit('notice', () => t('notice.draining', { seconds: d.deadlineSeconds })));
  sig.onNotification('panicAlert', (d) => live() && events.emit('panicAlert', d));
  sig.onNotification('activeSpeaker', (d) => live() && roster.setSpeaker(d));
  sig.onNotification('roomClosed', (d) => live() && core.fail('ROOM_CLOSED', d.reason));
  sig.onNotification('kicked', (d) => live() && core.fail('KICKED', d.reason));
  sig.events.on('disconnected', () => live() && core.state === 'joined' && core.setState('reconnecting'));
  sig.events.on('reconnected', () => { if (live()) void resume(core, sig, gen, rejoin); });
  sig.events.on('closed', ({ errorCode, reason }) => {
    if (live() && core.sig === sig && core.state !== 'idle' && !core.state.startsWith('error:')) core.fail(errorCode, reason);
  });
}
