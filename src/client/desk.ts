import { AlarmAlerts, type AlarmAlertsDebug } from './alarm-alerts.ts';
import { byUrgency, elapsedText, nextTierText, type PlannedTier } from './alarm-urgency.ts';
import {
  actorText,
  IncidentBook,
  kindText,
  locationText,
  outcomeText,
  stateOf,
  stateText,
  timeText,
  type IncidentEntry,
  type LoggedEvent,
} from './incident-book.ts';
import { errorText, linkProblemText, roleLabel } from './messages.ts';
import { onLanguageChange, t, tDynamic } from './i18n/language.ts';
import { bind, setAttr, setText, startLocalization } from './i18n/localize.ts';
import { initialLanguage, wireLanguagePicker } from './i18n/language-picker.ts';
import type { PlainKey } from './i18n/catalogue.ts';

/** A refused desk token is a "desk link" here, never a "session link"; no "Join again" (the page reconnects itself). */
function deskErrorText(code: string): string {
  if (code.startsWith('TOKEN_') || code === 'IDENTITY_REVOKED') return linkProblemText(code, 'desk');
  const text = errorText(code, undefined);
  const again = t('desk.joinAgain');
  return (text.endsWith(again) ? text.slice(0, -again.length) : text).replaceAll(t('desk.sessionLink'), t('desk.deskLink'));
}
import { OUTCOMES, type Outcome } from './panic-protocol.ts';
import { ChannelError, SafetyChannel, type ChannelState } from './safety-channel.ts';

/**
 * The safety desk page (`/desk.html#token=<desk JWT>`): every open alarm in the desk's scope,
 * live. Alerts arrive on the /safety socket (replayed for every open incident on each
 * (re)connection); acknowledgements, escalations and resolutions update the rows in place.
 */

/** What tests (and operators, from the console) can reach as `window.safetyDesk`. */
export interface SafetyDeskApi {
  readonly state: ChannelState | 'no-token';
  incidents(): { id: string; room: string; kind: string; state: string; tier: number; firstSeenAt: number }[];
  events(): LoggedEvent[];
  /** Incident ids in the order the table shows them (most urgent first). */
  order(): string[];
  /** The alarm sound and notifications (issue #15). */
  sound(): AlarmAlertsDebug;
}

declare global {
  interface Window {
    safetyDesk: SafetyDeskApi;
  }
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page is missing #${id}`);
  return e as T;
}

/** An element; `text` a catalogue key: its words follow the page's language. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: PlainKey): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) setText(e, () => t(text));
  return e;
}

/** The desk claims of a JWT, decoded without verification (only to say who is signed in). */
function deskClaims(token: string): { identity?: string; rooms?: string[]; role?: string } {
  try {
    const json = atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'));
    const c = JSON.parse(json) as { sub?: unknown; rooms?: unknown; role?: unknown };
    return {
      ...(typeof c.role === 'string' ? { role: c.role } : {}),
      ...(typeof c.sub === 'string' ? { identity: c.sub } : {}),
      ...(Array.isArray(c.rooms) ? { rooms: c.rooms.filter((r): r is string => typeof r === 'string') } : {}),
    };
  } catch {
    return {};
  }
}

interface Row {
  readonly tr: HTMLTableRowElement;
  readonly cells: Record<'raised' | 'age' | 'room' | 'kind' | 'who' | 'location' | 'contact' | 'state' | 'tier' | 'next', HTMLTableCellElement>;
  readonly ack: HTMLButtonElement;
  readonly outcome: HTMLSelectElement;
  readonly resolve: HTMLButtonElement;
  readonly problem: HTMLElement;
  readonly hint: HTMLElement;
  busy: boolean;
}

class DeskView {
  readonly #book = new IncidentBook();
  readonly #rows = new Map<string, Row>();
  readonly #tbody = byId<HTMLTableSectionElement>('incident-rows');
  readonly #table = byId<HTMLTableElement>('incidents');
  readonly #empty = byId<HTMLElement>('no-incidents');
  readonly #count = byId<HTMLElement>('open-count');
  readonly #status = byId<HTMLElement>('status');
  readonly #message = byId<HTMLElement>('message');
  readonly #announcer = byId<HTMLElement>('announcer');
  #channel: SafetyChannel | undefined;
  #state: ChannelState | 'no-token' = 'no-token';
  /** The server's escalation tiers (`panic:escalation-plan`), for the "Next escalation" column. */
  #plan: PlannedTier[] | undefined;
  readonly alarms: AlarmAlerts;
  /** The state last announced per incident (aria-live), so each change is said once. */
  readonly #announced = new Map<string, string>();

  constructor() {
    this.#book.events.on('added', (e) => {
      this.#addRow(e);
      if (!e.resolved && !e.acknowledged) this.#announcer.textContent = t('desk.newAlarm', { kind: kindText(e.kind), room: e.room, location: locationText(e) });
      this.#announced.set(e.id, stateOf(e));
    });
    this.#book.events.on('changed', (e) => {
      this.#renderRow(e);
      const state = stateOf(e);
      if (this.#announced.get(e.id) === state) return;
      this.#announced.set(e.id, state);
      if (state === 'acknowledged' && e.acknowledged) this.#announcer.textContent = t('desk.acknowledged', { room: e.room, actor: actorText(e.acknowledged.by) });
      if (state === 'resolved' && e.resolved) this.#announcer.textContent = t('desk.resolved', { room: e.room, outcome: outcomeText(e.resolved.outcome) });
    });
    this.alarms = new AlarmAlerts(this.#book, {
      root: byId('alarm-sound'), mute: byId('alarm-mute'), enable: byId('alarm-sound-enable'),
      announce: (text) => { this.#announcer.textContent = text; },
    }, () => true);
    // Time since raise and the next tier's countdown tick every second (and at once in a new language).
    setInterval(() => this.#tick(), 1000);
    onLanguageChange(() => this.#tick());
    this.#setState('no-token');
  }

  get state(): ChannelState | 'no-token' { return this.#state; }
  get book(): IncidentBook { return this.#book; }

  connect(token: string): void {
    this.#channel?.close();
    this.#channel = undefined;
    const claims = deskClaims(token);
    // A room token would connect too (as a participant): refuse it here, before it does.
    if (claims.role !== undefined && claims.role !== 'desk') {
      this.#setState('error:NOT_A_DESK_TOKEN');
      return;
    }
    setText(byId('desk-who'), () => claims.identity
      ? t('desk.signedIn', { identity: claims.identity, rooms: claims.rooms?.includes('*') ? t('desk.allRooms') : (claims.rooms ?? []).join(', ') || t('desk.noRooms') })
      : '');
    const channel = new SafetyChannel({ token });
    this.#channel = channel;
    this.#setState(channel.state);
    channel.events.on('state', (s) => {
      if (s === 'connected' && this.#state === 'reconnecting') this.#book.reconnected();
      this.#setState(s);
    });
    channel.events.on('panic:alert', (a) => this.#book.alert(a));
    channel.events.on('panic:acknowledged', (d) => this.#book.acknowledged(d));
    channel.events.on('panic:escalated', (d) => this.#book.escalated(d));
    channel.events.on('panic:cancelled', (d) => this.#book.cancelled(d));
    channel.events.on('panic:resolved', (d) => this.#book.resolved(d));
    channel.events.on('panic:escalation-plan', (p) => {
      this.#plan = p.tiers;
      this.#tick();
    });
  }

  /** Ids in table order. */
  order(): string[] {
    return [...this.#tbody.rows].map((r) => r.dataset.incidentId ?? '');
  }

  #setState(state: ChannelState | 'no-token'): void {
    this.#state = state;
    setText(this.#status, () => state.startsWith('error:') ? t('desk.status.error') : tDynamic(`desk.status.${state}`, {}, state));
    this.#status.dataset.state = state;
    if (state.startsWith('error:')) this.#status.dataset.code = state.slice('error:'.length);
    else delete this.#status.dataset.code;
    document.body.dataset.state = state.startsWith('error:') ? 'error' : state;
    setText(this.#message, () => state === 'no-token' ? t('desk.noToken')
      : state === 'connecting' ? t('desk.connecting')
        : state === 'reconnecting' ? t('desk.reconnecting')
          : state === 'error:NOT_A_DESK_TOKEN' ? t('desk.notDesk')
            : state.startsWith('error:') ? deskErrorText(state.slice('error:'.length))
            : '');
    byId('token-form').hidden = !(state === 'no-token' || state.startsWith('error:'));
  }

  #addRow(e: IncidentEntry): void {
    if (this.#rows.has(e.id)) return;
    const tr = el('tr', { id: `incident-${e.id}`, 'data-incident-id': e.id });
    // Each cell carries its column's heading (the table's own words): a narrow screen shows the
    // rows as cards, heading beside value (desk.css).
    const headings = [...document.querySelectorAll('#incidents thead th')];
    let column = 0;
    const cell = (cls: string) => {
      const th = headings[column++];
      const td = el('td', { class: cls });
      // After a language change too: the header row comes first in the document, so its words are already new.
      setAttr(td, 'data-label', () => th?.textContent ?? '');
      return td;
    };
    const cells = {
      raised: cell('raised'), age: cell('age'), room: cell('room'), kind: cell('kind'), who: cell('who'),
      location: cell('location'), contact: cell('contact'), state: cell('state'), tier: cell('tier'), next: cell('next'),
    };
    const actions = cell('actions');
    const ack = el('button', { type: 'button', id: `ack-${e.id}`, class: 'ack danger' }, 'alarm.acknowledge');
    const hint = el('p', { id: `hint-${e.id}`, class: 'hint' });
    const outcome = el('select', { id: `outcome-${e.id}`, class: 'outcome', 'aria-describedby': hint.id });
    setAttr(outcome, 'aria-label', () => t('alarm.outcome'));
    // No outcome is preselected: every alarm starts at "Choose…" (issue #15).
    outcome.add(el('option', { value: '' }, 'outcome.choose'));
    for (const o of OUTCOMES) {
      const option = el('option', { value: o });
      setText(option, () => outcomeText(o));
      outcome.add(option);
    }
    outcome.value = '';
    const resolve = el('button', { type: 'button', id: `resolve-${e.id}`, class: 'resolve', 'aria-describedby': hint.id }, 'alarm.resolve');
    const problem = el('p', { class: 'problem' });
    actions.append(ack, outcome, resolve, hint, problem);
    tr.append(cells.raised, cells.age, cells.room, cells.kind, cells.who, cells.location, cells.contact, cells.state, cells.tier, cells.next, actions);
    const row: Row = { tr, cells, ack, outcome, resolve, problem, hint, busy: false };
    outcome.addEventListener('change', () => this.#renderRow(this.#book.get(e.id)!));
    ack.addEventListener('click', () => void this.#act(row, e.id, 'panic:ack'));
    resolve.addEventListener('click', () => void this.#act(row, e.id, 'panic:resolve'));
    this.#rows.set(e.id, row);
    this.#tbody.prepend(tr);
    this.#renderRow(e);
  }

  async #act(row: Row, incidentId: string, event: 'panic:ack' | 'panic:resolve'): Promise<void> {
    const channel = this.#channel;
    if (!channel || row.busy) return;
    row.busy = true;
    setText(row.problem, () => '');
    this.#renderRow(this.#book.get(incidentId)!);
    try {
      if (event === 'panic:ack') {
        await channel.request('panic:ack', { incidentId });
      } else {
        if (!(OUTCOMES as readonly string[]).includes(row.outcome.value)) return;
        const outcome = row.outcome.value as Outcome;
        const inc = await channel.request('panic:resolve', { incidentId, outcome });
        // The server's panic:resolved broadcast usually came first; this covers a lost one.
        const claims = deskClaims(channel.token);
        this.#book.resolved({ incidentId, by: { identity: claims.identity ?? 'desk', role: 'desk' }, outcome: inc.outcome ?? outcome, at: inc.resolvedAt ?? new Date().toISOString() });
      }
    } catch (err) {
      const code = err instanceof ChannelError ? err.code : 'error';
      if (code === 'INCIDENT_NOT_FOUND') this.#book.gone(incidentId);
      else setText(row.problem, () => t(event === 'panic:ack' ? 'desk.ackFailed' : 'desk.resolveFailed', { code }));
    } finally {
      row.busy = false;
      this.#renderRow(this.#book.get(incidentId)!);
    }
  }

  #renderRow(e: IncidentEntry): void {
    const row = this.#rows.get(e.id);
    if (!row) return;
    const state = stateOf(e);
    row.tr.dataset.state = state;
    row.tr.dataset.tier = String(e.tier);
    setText(row.cells.raised, () => timeText(e.raisedAt));
    row.cells.room.textContent = e.room;
    setText(row.cells.kind, () => e.silent ? t('desk.silent', { kind: kindText(e.kind) }) : kindText(e.kind));
    setText(row.cells.who, () => `${roleLabel(e.raiser.role)} · ${e.raiser.identity}`);
    setText(row.cells.location, () => locationText(e));
    const contact = e.emergencyContact;
    const cell = row.cells.contact;
    bind(cell, 'text', () => {
      if (!contact) return cell.replaceChildren(t('alarm.noContact'));
      const tel = el('a', { href: `tel:${contact.phone.replace(/[^0-9+]/g, '')}` });
      tel.textContent = contact.phone;
      cell.replaceChildren(`${contact.name}, `, tel);
    });
    setText(row.cells.state, () => stateText(e));
    row.cells.tier.textContent = String(e.tier);
    row.ack.hidden = state !== 'open';
    row.outcome.hidden = row.resolve.hidden = state === 'resolved';
    row.ack.disabled = row.busy;
    // Acknowledge before resolve, and never without a chosen outcome (the server refuses the first too).
    row.outcome.disabled = row.busy || state !== 'acknowledged';
    row.resolve.disabled = row.busy || state !== 'acknowledged' || row.outcome.value === '';
    const hint: PlainKey | undefined = state === 'open' ? 'alarm.ackFirst' : state === 'acknowledged' && row.outcome.value === '' ? 'alarm.chooseOutcome' : undefined;
    setText(row.hint, () => hint ? t(hint) : '');
    setAttr(row.ack, 'aria-label', () => t('desk.ackLabel', { room: e.room }));
    setAttr(row.resolve, 'aria-label', () => t('desk.resolveLabel', { room: e.room }));
    this.#tickRow(e, row, Date.now());
    this.#reorder();
    this.#summarise();
  }

  /** Rows by urgency: open ones first (unacknowledged, then kind severity, then the oldest), resolved ones below, greyed. */
  #reorder(): void {
    const entries = this.order().map((id) => this.#book.get(id)).filter((e): e is IncidentEntry => e !== undefined);
    const sorted = [...entries].sort((a, b) => byUrgency(urgent(a), urgent(b)));
    if (sorted.every((e, i) => e === entries[i])) return;
    // Moving rows must not take the keyboard focus away from the operator.
    const focused = document.activeElement instanceof HTMLElement && this.#tbody.contains(document.activeElement) ? document.activeElement : undefined;
    for (const e of sorted) this.#tbody.append(this.#rows.get(e.id)!.tr);
    focused?.focus();
  }

  #tick(): void {
    const now = Date.now();
    for (const [id, row] of this.#rows) {
      const e = this.#book.get(id);
      if (e) this.#tickRow(e, row, now);
    }
  }

  /** The cells that change with time: how long the alarm has been open, and the next tier's countdown. */
  #tickRow(e: IncidentEntry, row: Row, now: number): void {
    const closed = stateOf(e) === 'resolved';
    const age = closed ? '' : elapsedText(now - Date.parse(e.raisedAt));
    // Written every second by the tick (in the current language), so not bound.
    if (row.cells.age.textContent !== age) row.cells.age.textContent = age;
    const next = nextTierText({ raisedAt: e.raisedAt, tier: e.tier, acknowledged: e.acknowledged, closed }, this.#plan, now, (ms) => timeText(new Date(ms).toISOString()));
    if (row.cells.next.textContent !== next) row.cells.next.textContent = next;
  }

  #summarise(): void {
    const open = this.#book.open();
    const unacknowledged = open.filter((e) => !e.acknowledged).length;
    this.#count.textContent = String(open.length);
    this.#table.hidden = this.#rows.size === 0;
    this.#empty.hidden = open.length > 0;
    const title = document.querySelector('title');
    if (title) setText(title, () => unacknowledged > 0 ? t('desk.titleWaiting', { n: unacknowledged }) : t('desk.title'));
  }
}

function urgent(e: IncidentEntry) {
  return { kind: e.kind, raisedAt: e.raisedAt, acknowledged: e.acknowledged, closed: stateOf(e) === 'resolved' };
}

// The words first: everything below writes its text in the page's language.
initialLanguage();
startLocalization();
wireLanguagePicker(document.getElementById('language') as HTMLSelectElement | null);

const view = new DeskView();
const tokenInput = byId<HTMLInputElement>('token');

function connectFromFragment(): void {
  const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  if (token) {
    tokenInput.value = token;
    view.connect(token);
  }
}
connectFromFragment();
window.addEventListener('hashchange', connectFromFragment);
byId<HTMLFormElement>('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = tokenInput.value.trim();
  view.alarms.gesture();
  if (token) view.connect(token);
});

window.safetyDesk = {
  get state() { return view.state; },
  incidents: () => view.book.all().map((e) => ({ id: e.id, room: e.room, kind: e.kind, state: stateOf(e), tier: e.tier, firstSeenAt: e.firstSeenAt })),
  events: () => [...view.book.log],
  order: () => view.order(),
  sound: () => view.alarms.debug(),
};
