import type { RemoteParticipant, Session } from './session.ts';
import { changeOf, changeText, clockTime } from './consent-text.ts';
import { roleLabel } from './messages.ts';
import { t } from './i18n/language.ts';
import { bind, setAttr } from './i18n/localize.ts';

/** Entries kept on screen: the newest first-class events of the call, not a log. */
const MAX_ENTRIES = 6;

/**
 * Announces what happened to the other participants that changes the call: a withdrawal of
 * consent, consent given again, a lost connection and its return. Each is a visible, timed line in
 * an aria-live region (the clinician looks away, a screen reader reads it); their tile shows the
 * state (ui.ts). A role and a time only: never a name, a place or a phone number. Cleared when the
 * call ends.
 */
export class ConsentNotices {
  readonly #list: HTMLUListElement;
  /** What each remote participant's last known state was (to announce changes only). */
  readonly #known = new Map<string, { consentWithdrawn: boolean; reconnecting: boolean }>();

  constructor(session: Session, before: HTMLElement) {
    const section = document.createElement('section');
    section.id = 'participant-notices';
    setAttr(section, 'aria-label', () => t('notices.label'));
    this.#list = document.createElement('ul');
    this.#list.setAttribute('aria-live', 'assertive');
    this.#list.setAttribute('aria-relevant', 'additions');
    section.append(this.#list);
    before.before(section);

    const ev = session.events;
    ev.on('participantJoined', (p) => this.#known.set(p.participantId, stateOf(p)));
    ev.on('participantUpdated', (p) => this.#updated(p));
    ev.on('participantLeft', (id) => this.#known.delete(id));
    ev.on('state', (state) => {
      if (state === 'joined' || state === 'reconnecting' || state === 'joining') return;
      this.#known.clear();
      this.#list.replaceChildren();
    });
  }

  #updated(p: RemoteParticipant): void {
    const before = this.#known.get(p.participantId);
    this.#known.set(p.participantId, stateOf(p));
    const change = before ? changeOf(before, stateOf(p)) : undefined;
    if (!change) return;
    const at = Date.now();
    const li = document.createElement('li');
    li.dataset.kind = change;
    // Not data-participant-id: that names a participant's tile.
    li.dataset.about = p.participantId;
    const time = document.createElement('time');
    time.dateTime = new Date(at).toISOString();
    const role = p.role;
    bind(li, 'content', () => {
      time.textContent = clockTime(at);
      li.replaceChildren(time, ` ${changeText(change, roleLabel(role))}`);
    });
    this.#list.prepend(li);
    while (this.#list.children.length > MAX_ENTRIES) this.#list.lastElementChild?.remove();
  }
}

function stateOf(p: RemoteParticipant): { consentWithdrawn: boolean; reconnecting: boolean } {
  return { consentWithdrawn: p.consentWithdrawn, reconnecting: p.reconnecting };
}
