/**
 * What the page shows of end-to-end encryption (issue #16): before the join, whether the session
 * is end-to-end encrypted (`#e2ee-prejoin`; a browser that cannot take part in a `required`
 * session is told so and cannot press Join); in the call, a lock and the words "End-to-end
 * encrypted" with the security code (`#e2ee-status`, `#e2ee-code`), and a line each time the code
 * changes, saying who joined or left (`#e2ee-code-change`). Reads the session's E2ee events only.
 */
import type { Session } from './session.ts';
import type { RoomLink } from './link-check.ts';
import { roleLabel } from './messages.ts';
import { E2EE_TEXT } from './e2ee-text.ts';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.textContent = text;
  return e;
}

export class E2eePanel {
  readonly #session: Session;
  readonly #prejoin = el('p', { id: 'e2ee-prejoin', class: 'e2ee-prejoin' });
  readonly #status = el('section', { id: 'e2ee-status', class: 'e2ee-status', 'aria-label': E2EE_TEXT.active, hidden: '' });
  readonly #lock = el('p', { class: 'e2ee-lock' });
  readonly #code = el('p', { id: 'e2ee-code', class: 'e2ee-code' });
  readonly #hint = el('p', { class: 'hint' }, E2EE_TEXT.codeHint);
  readonly #change = el('p', { id: 'e2ee-code-change', class: 'e2ee-code-change', 'aria-live': 'polite' });
  /** participantId -> role, kept after they leave (to say who left). */
  readonly #roles = new Map<string, string>();

  constructor(session: Session) {
    this.#session = session;
    document.getElementById('prejoin-who')?.after(this.#prejoin);
    this.#status.append(this.#lock, this.#code, this.#hint, this.#change);
    document.getElementById('message')?.before(this.#status);
    session.events.on('participantJoined', (p) => this.#roles.set(p.participantId, p.role));
    const e2ee = session.e2ee;
    e2ee.events.on('active', () => this.#render());
    e2ee.events.on('code', (c) => {
      this.#render();
      if (c.previous === undefined) return;
      const who = c.cause ? roleLabel(this.#roles.get(c.cause.participantId)).toLowerCase() : '';
      const article = who ? `a ${who}` : '';
      this.#change.textContent = E2EE_TEXT.codeChanged(c.cause?.change, article, c.code);
    });
    session.events.on('state', (state) => {
      if (state !== 'joined' && state !== 'reconnecting') this.#change.textContent = '';
      this.#render();
    });
  }

  /** The pre-join line for this link; true when this browser cannot join it (required, and no E2EE here). */
  showPrejoin(link: RoomLink): boolean {
    const supported = this.#session.e2ee.supported;
    const blocked = link.e2ee === 'required' && !supported;
    this.#prejoin.textContent = E2EE_TEXT.prejoin(link.e2ee, supported);
    this.#prejoin.dataset.mode = link.e2ee ?? 'off';
    this.#prejoin.setAttribute('role', blocked ? 'alert' : 'note');
    this.#prejoin.classList.toggle('problem', blocked);
    const join = document.getElementById('join') as HTMLButtonElement | null;
    if (join) join.disabled = blocked;
    return blocked;
  }

  #render(): void {
    const e2ee = this.#session.e2ee;
    const inCall = this.#session.state === 'joined' || this.#session.state === 'reconnecting';
    // An `optional` room that is not encrypted (someone's browser could not) says so too; an `off` room shows nothing.
    this.#status.hidden = !inCall || (!e2ee.active && e2ee.mode !== 'optional');
    this.#status.dataset.active = String(e2ee.active);
    this.#status.setAttribute('aria-label', e2ee.active ? E2EE_TEXT.active : E2EE_TEXT.inactive);
    this.#lock.textContent = e2ee.active ? `🔒 ${E2EE_TEXT.active}` : E2EE_TEXT.inactive;
    this.#code.textContent = e2ee.code ? `${E2EE_TEXT.codeLabel}: ${e2ee.code}` : '';
    this.#code.dataset.code = e2ee.code ?? '';
    this.#hint.hidden = !e2ee.active;
  }
}
