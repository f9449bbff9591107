import type { Session } from './session.ts';
import type { ConsentInput, ConsentScope } from './protocol.ts';
import { codeOf, messageOf } from './errors.ts';
import { errorText } from './messages.ts';
import { GRANT_EFFECTS, WITHDRAW_EFFECTS, clockTime } from './consent-text.ts';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
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
  readonly #withdrawButton = el('button', { id: 'withdraw-consent', type: 'button' }, 'Withdraw consent…');
  readonly #againButton = el('button', { id: 'consent-again', type: 'button' }, 'Give consent again…');
  readonly #withdrawDialog = el('dialog', { id: 'withdraw-dialog', 'aria-labelledby': 'withdraw-title', 'aria-describedby': 'withdraw-what' });
  readonly #confirmButton = el('button', { id: 'withdraw-confirm', type: 'button', class: 'danger' }, 'Withdraw consent and stop video');
  readonly #againDialog = el('dialog', { id: 'consent-dialog', 'aria-labelledby': 'consent-again-title', 'aria-describedby': 'consent-again-what' });
  readonly #againForm = el('form', { method: 'dialog', novalidate: '' });
  readonly #relation = el('select', { id: 'consent-again-relation' });
  readonly #name = el('input', { id: 'consent-again-name', maxlength: '120', autocomplete: 'off' });
  readonly #agree = el('input', { id: 'consent-again-agree', type: 'checkbox' });
  readonly #terms = el('span', { id: 'consent-again-terms' });
  readonly #problem = el('p', { id: 'consent-again-problem', class: 'problem', role: 'alert' });
  readonly #submit = el('button', { id: 'consent-again-submit', type: 'submit' }, 'Consent and turn video on');
  #withdrawnAt: number | undefined;
  /** A withdrawal that could not be sent, said under the status until the next try. */
  #failure: string | undefined;
  #busy = false;

  constructor(session: Session, policy: () => Promise<string | undefined>, after: HTMLElement) {
    this.#session = session;
    this.#policy = policy;
    this.#section.hidden = true;
    this.#section.append(el('h2', { id: 'consent-area-title' }, 'Your consent'), this.#status, el('div', { class: 'row' }));
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
    list.append(...WITHDRAW_EFFECTS.map((t) => el('li', {}, t)));
    const what = el('div', { id: 'withdraw-what' });
    what.append(el('p', {}, 'If you withdraw consent to this session by video:'), list);
    const cancel = el('button', { id: 'withdraw-cancel', type: 'button', autofocus: '' }, 'Keep my video on');
    cancel.addEventListener('click', () => this.#withdrawDialog.close());
    const row = el('div', { class: 'row' });
    row.append(cancel, this.#confirmButton);
    this.#withdrawDialog.append(el('h2', { id: 'withdraw-title' }, 'Withdraw consent to this video session?'), what, row);
  }

  #buildAgainDialog(): void {
    for (const [value, label] of [['guardian', 'a parent or guardian'], ['legal-representative', 'a legal representative'], ['self', 'me']] as const) {
      this.#relation.append(el('option', { value }, label));
    }
    const agree = el('label', { class: 'check' });
    agree.append(this.#agree, ' I agree to this session taking place by video (consent terms ', this.#terms, ').');
    const cancel = el('button', { id: 'consent-again-cancel', type: 'button' }, 'Cancel');
    cancel.addEventListener('click', () => this.#againDialog.close());
    const row = el('div', { class: 'row' });
    row.append(cancel, this.#submit);
    this.#againForm.append(
      el('h2', { id: 'consent-again-title' }, 'Give consent again'),
      el('p', { id: 'consent-again-what' }, GRANT_EFFECTS),
      el('p', { id: 'consent-again-who', class: 'hint' }),
      el('label', { for: 'consent-again-relation' }, 'Consent is given by'), this.#relation,
      el('label', { for: 'consent-again-name' }, 'Name of the person giving consent'), this.#name,
      agree, this.#problem, row,
    );
    this.#againDialog.append(this.#againForm);
  }

  async #openAgain(): Promise<void> {
    const minor = this.#session.role === 'student';
    this.#relation.value = minor ? 'guardian' : 'self';
    const who = this.#againForm.querySelector<HTMLElement>('#consent-again-who')!;
    who.textContent = minor ? 'A student\'s consent is given by a parent, a guardian or a legal representative.' : '';
    who.hidden = !minor;
    this.#name.value = '';
    this.#agree.checked = false;
    this.#showProblem(undefined);
    this.#policyVersion = undefined;
    this.#terms.textContent = '…';
    this.#againDialog.showModal();
    this.#name.focus();
    const policy = await this.#policy().catch(() => undefined);
    this.#policyVersion = policy;
    this.#terms.textContent = policy ? `version ${policy}` : '(version not known: check your connection)';
  }

  async #withdraw(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    this.#failure = undefined;
    try {
      await this.#session.withdrawConsent(['telehealth']);
      this.#withdrawnAt = Date.now();
    } catch {
      this.#failure = 'Could not withdraw consent: check your connection and try again, or leave the session.';
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
    if (!policyVersion) return this.#showProblem('The consent terms could not be loaded. Check your connection, close this and try again.', this.#agree);
    if (!name) return this.#showProblem('Give the name of the person giving consent.', this.#name);
    if (!this.#agree.checked) return this.#showProblem('Tick the box to consent to the session by video.', this.#agree);
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
      this.#showProblem(errorText(code, messageOf(err)), code === 'INVALID_CONSENT' ? this.#relation : undefined);
    } finally {
      this.#busy = false;
      this.#submit.disabled = false;
      this.#render();
    }
  }

  #showProblem(text: string | undefined, field?: HTMLElement): void {
    this.#problem.textContent = text ?? '';
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
    this.#status.textContent = (allowed
      ? 'You agreed to this session by video. You can withdraw consent at any time.'
      : `You withdrew consent${this.#withdrawnAt ? ` at ${clockTime(this.#withdrawnAt)}` : ''}. Your camera and microphone are off, and you do not see or hear the others. You are still in the session: Get help still works.`)
      + (allowed && this.#failure ? ` ${this.#failure}` : '');
  }

  #focusControl(): void {
    if (this.#section.hidden) return;
    (this.#session.mediaAllowed ? this.#withdrawButton : this.#againButton).focus();
  }
}
