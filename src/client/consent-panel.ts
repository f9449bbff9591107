import type { Session } from './session.ts';
import type { ConsentInput, ConsentScope } from './protocol.ts';
import { codeOf, messageOf } from './errors.ts';
import { errorText } from './messages.ts';
import { withdrawEffects, clockTime } from './consent-text.ts';
import { t } from './i18n/language.ts';
import { bind, setText } from './i18n/localize.ts';
import type { PlainKey } from './i18n/catalogue.ts';

/** An element; `text` a catalogue key: its words follow the page's language. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: PlainKey): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) setText(e, () => t(text));
  return e;
}

/**
 * "Your consent" during the call, placed apart from Leave: withdrawing opens a dialog that says
 * what happens (docs/protocol.md "withdrawConsent") and confirms it; once withdrawn, the person can
 * give consent again (grantConsent) in a second dialog asking what the join asked (who consents,
 * their name, the terms version of the link), after which the session sets up media again.
 * Native <dialog>s: modal, labelled, focus on the safe choice, Escape cancels, focus returns.
 */
export class ConsentPanel {
  readonly #session: Session;
  readonly #policy: () => Promise<string | undefined>;
  /** The consent terms version shown in the open consent-again dialog. */
  #policyVersion: string | undefined;
  readonly #section = el('section', { id: 'consent-area', 'aria-labelledby': 'consent-area-title' });
  readonly #status = el('p', { id: 'consent-status' });
  readonly #withdrawButton = el('button', { id: 'withdraw-consent', type: 'button' }, 'consent.withdraw');
  readonly #againButton = el('button', { id: 'consent-again', type: 'button' }, 'consent.again');
  readonly #withdrawDialog = el('dialog', { id: 'withdraw-dialog', 'aria-labelledby': 'withdraw-title', 'aria-describedby': 'withdraw-what' });
  readonly #confirmButton = el('button', { id: 'withdraw-confirm', type: 'button', class: 'danger' }, 'consent.confirm');
  readonly #againDialog = el('dialog', { id: 'consent-dialog', 'aria-labelledby': 'consent-again-title', 'aria-describedby': 'consent-again-what' });
  readonly #againForm = el('form', { method: 'dialog', novalidate: '' });
  readonly #relation = el('select', { id: 'consent-again-relation' });
  readonly #name = el('input', { id: 'consent-again-name', maxlength: '120', autocomplete: 'off' });
  readonly #agree = el('input', { id: 'consent-again-agree', type: 'checkbox' });
  readonly #terms = el('span', { id: 'consent-again-terms' });
  readonly #problem = el('p', { id: 'consent-again-problem', class: 'problem', role: 'alert' });
  readonly #submit = el('button', { id: 'consent-again-submit', type: 'submit' }, 'consent.submit');
  #withdrawnAt: number | undefined;
  /** A withdrawal that could not be sent, said under the status until the next try. */
  #failure: PlainKey | undefined;
  #busy = false;

  constructor(session: Session, policy: () => Promise<string | undefined>, after: HTMLElement) {
    this.#session = session;
    this.#policy = policy;
    this.#section.hidden = true;
    this.#section.append(el('h2', { id: 'consent-area-title' }, 'consent.title'), this.#status, el('div', { class: 'row' }));
    this.#section.lastElementChild!.append(this.#withdrawButton, this.#againButton);
    after.after(this.#section);
    this.#buildWithdrawDialog();
    this.#buildAgainDialog();
    document.body.append(this.#withdrawDialog, this.#againDialog);

    this.#withdrawButton.addEventListener('click', () => this.#withdrawDialog.showModal());
    this.#againButton.addEventListener('click', () => void this.#openAgain());
    this.#confirmButton.addEventListener('click', () => void this.#withdraw());
    this.#againForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#grant();
    });
    // Focus goes back to the control that opened the dialog (or the one now in its place).
    for (const d of [this.#withdrawDialog, this.#againDialog]) d.addEventListener('close', () => this.#focusControl());
    session.events.on('state', () => this.#render());
    session.events.on('localMedia', () => this.#render());
    this.#render();
  }

  #buildWithdrawDialog(): void {
    const list = el('ul');
    bind(list, 'items', () => list.replaceChildren(...withdrawEffects().map((text) => Object.assign(el('li'), { textContent: text }))));
    const what = el('div', { id: 'withdraw-what' });
    what.append(el('p', {}, 'consent.withdrawIf'), list);
    const cancel = el('button', { id: 'withdraw-cancel', type: 'button', autofocus: '' }, 'consent.keep');
    cancel.addEventListener('click', () => this.#withdrawDialog.close());
    const row = el('div', { class: 'row' });
    row.append(cancel, this.#confirmButton);
    this.#withdrawDialog.append(el('h2', { id: 'withdraw-title' }, 'consent.withdrawTitle'), what, row);
  }

  #buildAgainDialog(): void {
    for (const value of ['guardian', 'legal-representative', 'self'] as const) {
      this.#relation.append(el('option', { value }, `form.relation.${value}`));
    }
    const agree = el('label', { class: 'check' });
    // The sentence around the terms version (#consent-again-terms, filled when the dialog opens).
    bind(agree, 'content', () => {
      const [before, after] = t('consent.againAgree', { terms: '\u0000' }).split('\u0000');
      agree.replaceChildren(this.#agree, ` ${before ?? ''}`, this.#terms, after ?? '');
    });
    const cancel = el('button', { id: 'consent-again-cancel', type: 'button' }, 'consent.cancel');
    cancel.addEventListener('click', () => this.#againDialog.close());
    const row = el('div', { class: 'row' });
    row.append(cancel, this.#submit);
    this.#againForm.append(
      el('h2', { id: 'consent-again-title' }, 'consent.againTitle'),
      el('p', { id: 'consent-again-what' }, 'consent.againEffects'),
      el('p', { id: 'consent-again-who', class: 'hint' }),
      el('label', { for: 'consent-again-relation' }, 'consent.givenBy'), this.#relation,
      el('label', { for: 'consent-again-name' }, 'consent.giverName'), this.#name,
      agree, this.#problem, row,
    );
    this.#againDialog.append(this.#againForm);
  }

  async #openAgain(): Promise<void> {
    const minor = this.#session.role === 'student';
    this.#relation.value = minor ? 'guardian' : 'self';
    const who = this.#againForm.querySelector<HTMLElement>('#consent-again-who')!;
    setText(who, () => minor ? t('consent.againMinor') : '');
    who.hidden = !minor;
    this.#name.value = '';
    this.#agree.checked = false;
    this.#showProblem(undefined);
    this.#policyVersion = undefined;
    this.#setTerms(() => '…');
    this.#againDialog.showModal();
    this.#name.focus();
    const policy = await this.#policy().catch(() => undefined);
    this.#policyVersion = policy;
    this.#setTerms(() => policy ? t('consent.termsVersion', { version: policy }) : t('consent.termsUnknown'));
  }

  async #withdraw(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    this.#failure = undefined;
    try {
      await this.#session.withdrawConsent(['telehealth']);
      this.#withdrawnAt = Date.now();
    } catch {
      this.#failure = 'consent.withdrawFailed';
    } finally {
      this.#busy = false;
      this.#withdrawDialog.close();
      this.#render();
    }
  }

  async #grant(): Promise<void> {
    if (this.#busy) return;
    const policyVersion = this.#policyVersion;
    const name = this.#name.value.trim();
    if (!policyVersion) return this.#showProblem(() => t('consent.termsFailed'), this.#agree);
    if (!name) return this.#showProblem(() => t('consent.needName'), this.#name);
    if (!this.#agree.checked) return this.#showProblem(() => t('consent.needTick'), this.#agree);
    const scopes: ConsentScope[] = ['telehealth'];
    const consent: ConsentInput = { policyVersion, scopes, grantedBy: { relation: this.#relation.value as ConsentInput['grantedBy']['relation'], name }, method: 'electronic' };
    this.#busy = true;
    this.#submit.disabled = true;
    try {
      await this.#session.grantConsent(consent);
      this.#withdrawnAt = undefined;
      this.#againDialog.close();
    } catch (err) {
      const code = codeOf(err);
      const detail = messageOf(err);
      this.#showProblem(() => errorText(code, detail), code === 'INVALID_CONSENT' ? this.#relation : undefined);
    } finally {
      this.#busy = false;
      this.#submit.disabled = false;
      this.#render();
    }
  }

  /** The consent terms version in the open dialog. */
  #setTerms(text: () => string): void {
    setText(this.#terms, text);
  }

  #showProblem(text: (() => string) | undefined, field?: HTMLElement): void {
    setText(this.#problem, text ?? (() => ''));
    this.#problem.hidden = !text;
    for (const f of [this.#name, this.#agree, this.#relation]) f.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  #render(): void {
    const joined = this.#session.state === 'joined';
    const allowed = this.#session.mediaAllowed;
    this.#section.hidden = !joined;
    if (!joined) {
      this.#withdrawnAt = undefined;
      this.#failure = undefined;
      for (const d of [this.#withdrawDialog, this.#againDialog]) if (d.open) d.close();
      return;
    }
    this.#section.dataset.consent = allowed ? 'given' : 'withdrawn';
    this.#withdrawButton.hidden = !allowed;
    this.#againButton.hidden = allowed;
    const at = this.#withdrawnAt;
    const failure = this.#failure;
    setText(this.#status, () => (allowed ? t('consent.given') : at ? t('consent.withdrawnAt', { time: clockTime(at) }) : t('consent.withdrawn'))
      + (allowed && failure ? ` ${t(failure)}` : ''));
  }

  #focusControl(): void {
    if (this.#section.hidden) return;
    (this.#session.mediaAllowed ? this.#withdrawButton : this.#againButton).focus();
  }
}
