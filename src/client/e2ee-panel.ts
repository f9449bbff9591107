/**
 * What the page shows of end-to-end encryption (issue #16): before the join, whether the session
 * is end-to-end encrypted (`#e2ee-prejoin`; a browser that cannot take part in a `required`
 * session is told so and cannot press Join); in the call, a lock and the words "End-to-end
 * encrypted" with the security code (`#e2ee-status`, `#e2ee-code`), and a line each time the code
 * changes, saying who joined or left, by role (`#e2ee-code-change`). Reads the session's E2ee
 * events only; every word comes from the catalogue (i18n/) and follows a language change.
 */
import type { Session } from './session.ts';
import type { RoomLink } from './link-check.ts';
import { roleLabel } from './messages.ts';
import { t } from './i18n/language.ts';
import { setAttr, setText } from './i18n/localize.ts';
import type { E2eeMode } from './e2ee.ts';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The pre-join line for a room's mode and whether this browser can encrypt. */
function prejoinText(mode: E2eeMode | undefined, supported: boolean): string {
  if (mode === 'required') return supported ? t('e2ee.prejoin.required') : t('e2ee.prejoin.requiredUnsupported');
  if (mode === 'optional') return supported ? t('e2ee.prejoin.optional') : t('e2ee.prejoin.optionalUnsupported');
  return t('e2ee.prejoin.off');
}

export class E2eePanel {
  readonly #session: Session;
  readonly #prejoin = el('p', { id: 'e2ee-prejoin', class: 'e2ee-prejoin' });
  readonly #status = el('section', { id: 'e2ee-status', class: 'e2ee-status', hidden: '' });
  readonly #lock = el('p', { class: 'e2ee-lock' });
  readonly #code = el('p', { id: 'e2ee-code', class: 'e2ee-code' });
  readonly #hint = el('p', { class: 'hint' });
  readonly #change = el('p', { id: 'e2ee-code-change', class: 'e2ee-code-change', 'aria-live': 'polite' });
  /** participantId -> role, kept after they leave (to say who left). */
  readonly #roles = new Map<string, string>();

  constructor(session: Session) {
    this.#session = session;
    document.getElementById('prejoin-who')?.after(this.#prejoin);
    this.#status.append(this.#lock, this.#code, this.#hint, this.#change);
    document.getElementById('message')?.before(this.#status);
    setText(this.#hint, () => t('e2ee.codeHint'));
    setAttr(this.#status, 'aria-label', () => (this.#session.e2ee.active ? t('e2ee.active') : t('e2ee.inactive')));
    setText(this.#lock, () => (this.#session.e2ee.active ? `🔒 ${t('e2ee.active')}` : t('e2ee.inactive')));
    setText(this.#code, () => (this.#session.e2ee.code ? t('e2ee.code', { code: this.#session.e2ee.code }) : ''));
    setText(this.#change, () => '');
    session.events.on('participantJoined', (p) => this.#roles.set(p.participantId, p.role));
    const e2ee = session.e2ee;
    e2ee.events.on('active', () => this.#render());
    e2ee.events.on('code', (c) => {
      this.#render();
      if (c.previous === undefined) return;
      const change = c.cause?.change;
      const role = c.cause ? this.#roles.get(c.cause.participantId) : undefined;
      const code = c.code;
      setText(this.#change, () => {
        const who = roleLabel(role).toLowerCase();
        return change === 'joined' ? t('e2ee.changed.joined', { role: who, code })
          : change === 'left' ? t('e2ee.changed.left', { role: who, code })
            : t('e2ee.changed.other', { code });
      });
    });
    session.events.on('state', (state) => {
      if (state !== 'joined' && state !== 'reconnecting') setText(this.#change, () => '');
      this.#render();
    });
  }

  /** The pre-join line for this link; true when this browser cannot join it (required, and no E2EE here). */
  showPrejoin(link: RoomLink): boolean {
    const supported = this.#session.e2ee.supported;
    const blocked = link.e2ee === 'required' && !supported;
    setText(this.#prejoin, () => prejoinText(link.e2ee, supported));
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
    setAttr(this.#status, 'aria-label', () => (this.#session.e2ee.active ? t('e2ee.active') : t('e2ee.inactive')));
    setText(this.#lock, () => (this.#session.e2ee.active ? `🔒 ${t('e2ee.active')}` : t('e2ee.inactive')));
    setText(this.#code, () => (this.#session.e2ee.code ? t('e2ee.code', { code: this.#session.e2ee.code }) : ''));
    this.#code.dataset.code = e2ee.code ?? '';
    this.#hint.hidden = !e2ee.active;
  }
}
