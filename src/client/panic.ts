import { AlarmAlerts, roleInToken, type AlarmAlertsDebug } from './alarm-alerts.ts';
import { raiserAcknowledgedText, raiserResolvedText } from './alarm-urgency.ts';
import { IncidentBook, kindText, locationText, outcomeText, stateOf, stateText, timeText, type IncidentEntry, type LoggedEvent } from './incident-book.ts';
import { roleLabel } from './messages.ts';
import { t } from './i18n/language.ts';
import { bind, setText } from './i18n/localize.ts';
import type { PlainKey } from './i18n/catalogue.ts';
import { INCIDENT_KINDS, OUTCOMES, isAlert, type Actor, type IncidentKind, type Outcome, type PanicServerEvents } from './panic-protocol.ts';
import { ChannelError, SafetyChannel, type ChannelState } from './safety-channel.ts';
import type { Session } from './session.ts';
import type { Role } from './protocol.ts';

/** What tests read as `window.sfuClient.panic()`. */
export interface PanicState {
  /** The server's id of our last alarm (undefined until the server answered). */
  lastIncidentId: string | undefined;
  /** The server has our last alarm: it is stored and on its way to the responders. */
  acked: boolean;
  /** Our own idempotency key of the last alarm. */
  clientIncidentId: string | undefined;
  /** How many times the last alarm was sent before the server answered. */
  attempts: number;
  /** Date.now() of the last press of the button. */
  pressedAt: number | undefined;
  /** Date.now() when the server answered. */
  ackedAt: number | undefined;
  silent: boolean | undefined;
  error: string | undefined;
  /** The /safety connection: undefined before the first join. */
  channel: ChannelState | undefined;
  /** What responders did with our last alarm (issue #15): the raiser is told who has it, then how it ended. */
  responded: { state: 'acknowledged' | 'resolved'; by: Actor; at: string; outcome?: Outcome } | undefined;
}

/** What tests read as `window.sfuClient.alerts()` (clinicians). */
export interface AlertsState {
  shown: string | undefined;
  incidents: { id: string; state: string; tier: number; kind: string; shownAt: number | undefined }[];
  events: LoggedEvent[];
  /** The alarm sound and notifications (issue #15). */
  sound: AlarmAlertsDebug;
}

/** The alarm's idempotency key: crypto.randomUUID (secure contexts only: https, localhost), else 128 random bits. */
function newClientIncidentId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page is missing #${id}`);
  return e as T;
}

/**
 * The panic channel on the participant page: the /safety socket (opened with the page's token
 * once joined, kept open even when consent is withdrawn or the session drops), the panic button
 * for everyone, and the alert banner for clinicians.
 */
export class PanicPanel {
  readonly #session: Session;
  #channel: SafetyChannel | undefined;
  readonly #book = new IncidentBook();
  readonly #state: Omit<PanicState, 'channel'> = { lastIncidentId: undefined, acked: false, clientIncidentId: undefined, attempts: 0, pressedAt: undefined, ackedAt: undefined, silent: undefined, error: undefined, responded: undefined };
  /** Bumped on every press: an older raise's retries stop reporting once a newer one started. */
  #press = 0;
  #statusTimer: ReturnType<typeof setTimeout> | undefined;
  /** Updates of alarms whose raise reply has not come yet (a retried raise): kept, a few, until it comes. */
  readonly #early = new Map<string, [event: 'acknowledged' | 'resolved', d: PanicServerEvents['panic:acknowledged'] | PanicServerEvents['panic:resolved']][]>();

  readonly #area = byId<HTMLElement>('panic-area');
  readonly #button = byId<HTMLButtonElement>('panic');
  readonly #silent = byId<HTMLInputElement>('panic-silent');
  readonly #kind = byId<HTMLSelectElement>('panic-kind');
  readonly #status = byId<HTMLElement>('panic-status');
  readonly #cancel = byId<HTMLButtonElement>('panic-cancel');
  readonly #banner: AlertBanner;
  readonly #alarms: AlarmAlerts;

  constructor(session: Session, tokenOf: () => string) {
    this.#session = session;
    this.#banner = new AlertBanner(this.#book, (event, data) => this.#respond(event, data));
    const announcer = byId<HTMLElement>('alarm-announcer');
    this.#alarms = new AlarmAlerts(this.#book, {
      root: byId('alarm-sound'), mute: byId('alarm-mute'), enable: byId('alarm-sound-enable'), announce: (text) => { announcer.textContent = text; },
    }, () => roleInToken(tokenOf()) === 'clinician');
    // Join is the page's first gesture: the alarm sound is unlocked then, and a clinician asked for notifications.
    byId<HTMLFormElement>('join-form').addEventListener('submit', () => this.#alarms.gesture());
    if (!this.#kind.options.length) {
      for (const k of INCIDENT_KINDS) {
        const option = new Option('', k, k === 'safety', k === 'safety');
        setText(option, () => kindText(k));
        this.#kind.add(option);
      }
    }
    this.#kind.value = 'safety';
    this.#button.addEventListener('click', () => void this.raise());
    this.#cancel.addEventListener('click', () => void this.#cancelLast());
    session.events.on('state', (state) => {
      // Shown from the first join on, and kept: an alarm must stay possible while reconnecting.
      if (state === 'joined') {
        this.#ensureChannel(tokenOf());
        this.#area.hidden = false;
      } else if (state === 'idle') {
        this.#area.hidden = true;
      }
      // The call ended: an ended alarm's location and contact go (an open one stays until resolved).
      if (state === 'idle' || state.startsWith('error:')) this.#book.forgetEnded();
    });
    // The session moved to another node (its node was lost): the channel follows it there at once.
    session.events.on('nodeChanged', () => this.#ensureChannel(tokenOf()));
    session.events.on('panicAlert', (data) => {
      if (isAlert(data)) this.#book.alert(data, 'panicAlert');
    });
  }

  state(): PanicState {
    return { ...this.#state, channel: this.#channel?.state };
  }

  alerts(): AlertsState {
    return {
      shown: this.#banner.shown,
      incidents: this.#book.all().map((e) => ({ id: e.id, state: stateOf(e), tier: e.tier, kind: e.kind, shownAt: this.#banner.shownAt(e.id) })),
      events: [...this.#book.log],
      sound: this.#alarms.debug(),
    };
  }

  /** Raises an alarm with the kind and silent option chosen on the page; retries until the server has it. */
  async raise(): Promise<void> {
    const channel = this.#channel;
    const press = ++this.#press;
    const silent = this.#silent.checked;
    const kind = (INCIDENT_KINDS as readonly string[]).includes(this.#kind.value) ? this.#kind.value as IncidentKind : 'safety';
    const clientIncidentId = newClientIncidentId();
    Object.assign(this.#state, { lastIncidentId: undefined, acked: false, clientIncidentId, attempts: 1, pressedAt: Date.now(), ackedAt: undefined, silent, error: undefined, responded: undefined });
    this.#status.dataset.alarm = 'sending';
    this.#cancel.hidden = true;
    this.#early.clear();
    if (!channel) {
      this.#state.error = 'NOT_CONNECTED';
      this.#say(silent, () => t('panic.notConnected'), true);
      return;
    }
    this.#say(silent, () => t(silent ? 'panic.sendingSilent' : 'panic.sending'), false);
    try {
      const res = await this.#raiseOn(channel, press, silent, { kind, silent, clientIncidentId });
      if (press !== this.#press) return;
      Object.assign(this.#state, { lastIncidentId: res.incidentId, acked: true, ackedAt: Date.now() });
      this.#status.dataset.alarm = 'sent';
      this.#say(silent, () => t(silent ? 'panic.sentSilent' : 'panic.sent'), false);
      this.#cancel.hidden = false;
      // A responder may have acknowledged (or resolved) it before our reply came (a retried raise).
      const early = this.#early.get(res.incidentId);
      if (early) for (const [event, d] of early) this.#responded(event, d);
      if (silent) {
        // Discreet: the confirmation fades after a few seconds, so nobody nearby sees it.
        clearTimeout(this.#statusTimer);
        this.#statusTimer = setTimeout(() => {
          if (press !== this.#press) return;
          this.#say(true, undefined, false);
          this.#cancel.hidden = true;
        }, 4000);
      }
    } catch (err) {
      if (press !== this.#press) return;
      const code = err instanceof ChannelError ? err.code : 'INTERNAL_ERROR';
      this.#state.error = code;
      this.#say(silent, () => code === 'NOT_JOINED' ? t('panic.notJoined') : t('panic.failed', { code }), true);
    }
  }

  /**
   * Sends the raise until the server has it; when the session moves to another node meanwhile (its
   * node was lost) and the channel is replaced, the same raise (same clientIncidentId: the server
   * records it once) goes on over the new channel.
   */
  async #raiseOn(first: SafetyChannel, press: number, silent: boolean, data: { kind: IncidentKind; silent: boolean; clientIncidentId: string }) {
    for (let channel = first; ;) {
      try {
        return await channel.requestUntilAnswered('panic:raise', data, {
          // NOT_JOINED is passing while the session resumes or joins again; not once it ended.
          stop: (err) => press !== this.#press || (err.code === 'NOT_JOINED' && !this.#inSession()),
          onRetry: (attempt) => {
            if (press !== this.#press) return;
            this.#state.attempts = attempt + 1;
            this.#say(silent, () => t(silent ? 'panic.retryingSilent' : 'panic.retrying'), false);
          },
        });
      } catch (err) {
        const next = this.#channel;
        if (press !== this.#press || !next || next === channel) throw err;
        channel = next;
      }
    }
  }

  #inSession(): boolean {
    const s = this.#session.state;
    return s === 'joined' || s === 'joining' || s === 'reconnecting';
  }

  async #cancelLast(): Promise<void> {
    const id = this.#state.lastIncidentId;
    if (!id || !this.#channel) return;
    this.#cancel.disabled = true;
    try {
      await this.#channel.request('panic:cancel', { incidentId: id });
      this.#say(this.#state.silent ?? false, () => t('panic.cancelled'), false);
      this.#cancel.hidden = true;
    } catch (err) {
      const code = err instanceof ChannelError ? err.code : 'error';
      this.#say(false, () => t('panic.cancelFailed', { code }), true);
    } finally {
      this.#cancel.disabled = false;
    }
  }

  /** The raiser's status line: `text` undefined clears it. */
  #say(silent: boolean, text: (() => string) | undefined, problem: boolean): void {
    setText(this.#status, text ?? (() => ''));
    this.#status.dataset.silent = String(silent);
    this.#status.dataset.problem = String(problem);
    this.#status.hidden = text === undefined;
  }

  #ensureChannel(token: string): void {
    // With several nodes the channel goes where the session joined (its room's node, after a redirect).
    const origin = this.#session.nodeOrigin ?? location.origin;
    if (this.#channel && this.#channel.token === token && this.#channel.origin === origin) return;
    this.#channel?.close();
    const channel = new SafetyChannel({ token, origin });
    this.#channel = channel;
    let wasDown = false;
    channel.events.on('state', (s) => {
      if (s === 'connected' && wasDown) this.#book.reconnected();
      wasDown = s === 'reconnecting';
    });
    channel.events.on('panic:alert', (a) => this.#book.alert(a));
    channel.events.on('panic:acknowledged', (d) => {
      this.#book.acknowledged(d);
      this.#responded('acknowledged', d);
    });
    channel.events.on('panic:escalated', (d) => this.#book.escalated(d));
    channel.events.on('panic:cancelled', (d) => this.#book.cancelled(d));
    channel.events.on('panic:resolved', (d) => {
      this.#book.resolved(d);
      this.#responded('resolved', d);
    });
    channel.events.on('panic:announce', (d) => {
      // Non-silent alarms of others in the room: a calm notice, never the details. The server does
      // not announce our own to us (docs/safety.md); should one come anyway, it is not news to us.
      if (d.incidentId === this.#state.lastIncidentId || (this.#state.pressedAt !== undefined && !this.#state.acked && !this.#state.error)) return;
      this.#say(false, () => t('panic.announce'), false);
    });
  }

  /**
   * A responder acknowledged or resolved an alarm: when it is our last one, the raiser is told who
   * has it (and since when), then how it ended; "I pressed it by mistake" goes once a person has it
   * (the server still accepts a cancel: docs/safety.md, "What the raiser sees").
   */
  #responded(event: 'acknowledged' | 'resolved', d: PanicServerEvents['panic:acknowledged'] | PanicServerEvents['panic:resolved']): void {
    const mine = this.#state.lastIncidentId;
    if (mine === undefined) {
      // Our raise is still waiting for its reply: keep the update for it (bounded).
      if (this.#state.pressedAt !== undefined && !this.#state.acked && this.#early.size < 8) this.#early.set(d.incidentId, [...(this.#early.get(d.incidentId) ?? []), [event, d]]);
      return;
    }
    if (d.incidentId !== mine) return;
    const previous = this.#state.responded;
    if (previous?.state === 'resolved' || (event === 'acknowledged' && previous)) return;
    const silent = this.#state.silent ?? false;
    this.#state.responded = { state: event, by: d.by, at: d.at, ...('outcome' in d ? { outcome: d.outcome } : {}) };
    this.#status.dataset.alarm = event;
    this.#cancel.hidden = true;
    this.#say(silent, () => event === 'acknowledged'
      ? raiserAcknowledgedText(d.by, timeText(d.at), silent)
      : raiserResolvedText(d.by, (d as PanicServerEvents['panic:resolved']).outcome, timeText(d.at), silent), false);
    if (silent) {
      // Discreet, as the "Sent." before it: gone after a few seconds.
      const press = this.#press;
      clearTimeout(this.#statusTimer);
      this.#statusTimer = setTimeout(() => { if (press === this.#press) this.#say(true, undefined, false); }, 4000);
    }
  }

  #me(identity: string): { identity: string; role: Role } {
    return { identity, role: this.#session.role ?? 'clinician' };
  }

  async #respond(event: 'panic:ack' | 'panic:resolve', data: { incidentId: string; outcome?: Outcome }): Promise<void> {
    const channel = this.#channel;
    if (!channel) throw new ChannelError('NOT_CONNECTED', 'the safety channel is not open');
    // One attempt each (the person sees a failure and can press again): a resolve that timed out
    // may have gone through, and repeating it would only answer INCIDENT_NOT_FOUND.
    if (event === 'panic:ack') {
      // The server also sends panic:acknowledged to every responder (us included), usually first.
      const inc = await channel.request('panic:ack', { incidentId: data.incidentId });
      if (inc.acknowledgedBy && inc.acknowledgedBy === this.#session.identity) this.#book.acknowledged({ incidentId: inc.id, by: this.#me(inc.acknowledgedBy), at: inc.acknowledgedAt ?? new Date().toISOString() });
    } else {
      // Never a default: the banner offers Resolve only with an outcome chosen, after an acknowledgement.
      const outcome = data.outcome;
      if (!outcome) throw new ChannelError('INVALID_REQUEST', 'choose an outcome first');
      const inc = await channel.request('panic:resolve', { incidentId: data.incidentId, outcome });
      this.#book.resolved({ incidentId: inc.id, by: this.#me(this.#session.identity ?? ''), outcome: inc.outcome ?? outcome, at: inc.resolvedAt ?? new Date().toISOString() });
    }
  }
}

/** An `<option>` whose words follow the page's language. */
function option(value: string, text: () => string): HTMLOptionElement {
  const o = new Option('', value);
  setText(o, text);
  return o;
}

type Act = (event: 'panic:ack' | 'panic:resolve', data: { incidentId: string; outcome?: Outcome }) => Promise<void>;

/**
 * The clinician's alert banner: one incident at a time (an unacknowledged one first), with where
 * the person is, whom to call, and Acknowledge / Resolve. Only clinicians are ever sent alerts,
 * so on anyone else's page it stays hidden.
 */
class AlertBanner {
  readonly #book: IncidentBook;
  readonly #act: Act;
  readonly #root = byId<HTMLElement>('panic-banner');
  readonly #kind = byId<HTMLElement>('panic-banner-kind');
  readonly #who = byId<HTMLElement>('panic-who');
  readonly #where = byId<HTMLElement>('panic-location');
  readonly #contact = byId<HTMLElement>('panic-contact');
  readonly #stateLine = byId<HTMLElement>('panic-state');
  readonly #problem = byId<HTMLElement>('panic-problem');
  readonly #more = byId<HTMLElement>('panic-more');
  readonly #ack = byId<HTMLButtonElement>('panic-ack');
  readonly #outcome = byId<HTMLSelectElement>('panic-outcome');
  readonly #resolve = byId<HTMLButtonElement>('panic-resolve');
  readonly #dismiss = byId<HTMLButtonElement>('panic-dismiss');
  readonly #resolveHint = byId<HTMLElement>('panic-resolve-hint');
  readonly #shownAt = new Map<string, number>();
  #shown: string | undefined;
  #busy = false;

  constructor(book: IncidentBook, act: Act) {
    this.#book = book;
    this.#act = act;
    if (!this.#outcome.options.length) {
      // No outcome is preselected: every alarm starts at "Choose…" (issue #15).
      this.#outcome.add(option('', () => t('outcome.choose')));
      for (const o of OUTCOMES) this.#outcome.add(option(o, () => outcomeText(o)));
    }
    this.#outcome.value = '';
    this.#outcome.addEventListener('change', () => this.#render());
    book.events.on('added', (e) => {
      const current = this.#shown ? book.get(this.#shown) : undefined;
      // A new alarm takes the banner unless an unacknowledged one is already on it.
      if (!current || stateOf(current) !== 'open') this.#show(e.id);
      else this.#render();
    });
    book.events.on('changed', (e) => {
      if (e.id === this.#shown && stateOf(e) === 'resolved') {
        const next = this.#next();
        if (next) {
          this.#show(next.id);
          return;
        }
      }
      this.#render();
    });
    book.events.on('forgotten', (ids) => {
      if (this.#shown === undefined || !ids.includes(this.#shown)) return;
      this.#shown = undefined;
      this.#render();
    });
    this.#ack.addEventListener('click', () => void this.#run('panic:ack'));
    this.#resolve.addEventListener('click', () => void this.#run('panic:resolve'));
    this.#dismiss.addEventListener('click', () => {
      this.#shown = undefined;
      this.#render();
    });
  }

  get shown(): string | undefined { return this.#shown; }

  shownAt(id: string): number | undefined {
    return this.#shownAt.get(id);
  }

  /** The open incident to show next: unacknowledged first, newest first. */
  #next(): IncidentEntry | undefined {
    const open = this.#book.open().filter((e) => e.id !== this.#shown);
    open.sort((a, b) => Number(!!a.acknowledged) - Number(!!b.acknowledged) || b.raisedAt.localeCompare(a.raisedAt));
    return open[0];
  }

  #show(id: string): void {
    if (id !== this.#shown) this.#outcome.value = '';
    this.#shown = id;
    setText(this.#problem, () => '');
    this.#render();
    if (!this.#shownAt.has(id)) this.#shownAt.set(id, Date.now());
  }

  async #run(event: 'panic:ack' | 'panic:resolve'): Promise<void> {
    const id = this.#shown;
    if (!id || this.#busy) return;
    this.#busy = true;
    setText(this.#problem, () => '');
    this.#render();
    try {
      const outcome = (OUTCOMES as readonly string[]).includes(this.#outcome.value) ? this.#outcome.value as Outcome : undefined;
      await this.#act(event, { incidentId: id, ...(outcome ? { outcome } : {}) });
    } catch (err) {
      const code = err instanceof ChannelError ? err.code : 'error';
      if (code === 'INCIDENT_NOT_FOUND') this.#book.gone(id);
      else setText(this.#problem, () => t(event === 'panic:ack' ? 'alarm.ackFailed' : 'alarm.resolveFailed', { code }));
    } finally {
      this.#busy = false;
      this.#render();
    }
  }

  #render(): void {
    const e = this.#shown ? this.#book.get(this.#shown) : undefined;
    this.#root.hidden = !e;
    if (!e) {
      // Nothing shown: nothing of the last alarm (where, whom to call) stays in the page either.
      for (const field of [this.#who, this.#where, this.#contact, this.#stateLine]) setText(field, () => '');
      return;
    }
    const state = stateOf(e);
    this.#root.dataset.incidentId = e.id;
    this.#root.dataset.state = state;
    this.#root.dataset.tier = String(e.tier);
    setText(this.#kind, () => e.silent ? t('banner.silent', { kind: kindText(e.kind) }) : kindText(e.kind));
    setText(this.#who, () => t('banner.raisedBy', { role: roleLabel(e.raiser.role), time: timeText(e.raisedAt) }));
    setText(this.#where, () => locationText(e));
    const contact = e.emergencyContact;
    const where = this.#contact;
    // Slot 'text', as setText: whichever wrote last is what a language change writes again.
    bind(where, 'text', () => {
      if (!contact) return where.replaceChildren(t('alarm.noContact'));
      const tel = document.createElement('a');
      tel.href = `tel:${contact.phone.replace(/[^0-9+]/g, '')}`;
      tel.textContent = contact.phone;
      where.replaceChildren(`${contact.name}, `, tel);
    });
    setText(this.#stateLine, () => stateText(e));
    this.#ack.hidden = state !== 'open';
    this.#ack.disabled = this.#busy;
    this.#resolve.hidden = state === 'resolved';
    this.#outcome.hidden = state === 'resolved';
    // Acknowledge before resolve, and never without a chosen outcome (the server refuses the first too).
    this.#outcome.disabled = this.#busy || state !== 'acknowledged';
    this.#resolve.disabled = this.#busy || state !== 'acknowledged' || this.#outcome.value === '';
    const hint: PlainKey | undefined = state === 'open' ? 'alarm.ackFirst' : state === 'acknowledged' && this.#outcome.value === '' ? 'alarm.chooseOutcome' : undefined;
    setText(this.#resolveHint, () => hint ? t(hint) : '');
    this.#dismiss.hidden = state !== 'resolved';
    const others = this.#book.open().filter((o) => o.id !== e.id).length;
    setText(this.#more, () => others > 0 ? t('banner.more', { n: others }) : '');
    this.#more.hidden = others === 0;
  }
}
