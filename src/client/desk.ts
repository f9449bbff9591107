import {
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
import { errorText, roleLabel } from './messages.ts';
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

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
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
  readonly cells: Record<'raised' | 'room' | 'kind' | 'who' | 'location' | 'contact' | 'state' | 'tier', HTMLTableCellElement>;
  readonly ack: HTMLButtonElement;
  readonly outcome: HTMLSelectElement;
  readonly resolve: HTMLButtonElement;
  readonly problem: HTMLElement;
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

  constructor() {
    this.#book.events.on('added', (e) => {
      this.#addRow(e);
      if (!e.resolved && !e.acknowledged) this.#announcer.textContent = `New alarm: ${kindText(e.kind)} in room ${e.room}. ${locationText(e)}.`;
    });
    this.#book.events.on('changed', (e) => this.#renderRow(e));
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
    byId('desk-who').textContent = claims.identity
      ? `Signed in as ${claims.identity}; rooms: ${claims.rooms?.includes('*') ? 'all' : (claims.rooms ?? []).join(', ') || 'none'}`
      : '';
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
  }

  #setState(state: ChannelState | 'no-token'): void {
    this.#state = state;
    this.#status.textContent = state;
    this.#status.dataset.state = state;
    document.body.dataset.state = state.startsWith('error:') ? 'error' : state;
    this.#message.textContent = state === 'no-token' ? 'Open the desk link you were given, or paste your desk token.'
      : state === 'connecting' ? 'Connecting…'
        : state === 'reconnecting' ? 'Connection lost; reconnecting. Alarms raised meanwhile are shown when the connection is back.'
          : state === 'error:NOT_A_DESK_TOKEN' ? 'This is a session link, not a safety desk link. Open the desk link you were given.'
            : state.startsWith('error:') ? errorText(state.slice('error:'.length), undefined).replace(/ Join again\.?$/, '')
            : '';
    byId('token-form').hidden = !(state === 'no-token' || state.startsWith('error:'));
  }

  #addRow(e: IncidentEntry): void {
    if (this.#rows.has(e.id)) return;
    const tr = el('tr', { id: `incident-${e.id}`, 'data-incident-id': e.id });
    const cell = (cls: string) => el('td', { class: cls });
    const cells = {
      raised: cell('raised'), room: cell('room'), kind: cell('kind'), who: cell('who'),
      location: cell('location'), contact: cell('contact'), state: cell('state'), tier: cell('tier'),
    };
    const actions = cell('actions');
    const ack = el('button', { type: 'button', id: `ack-${e.id}`, class: 'ack danger' }, 'Acknowledge');
    const outcome = el('select', { id: `outcome-${e.id}`, class: 'outcome', 'aria-label': 'Outcome' });
    for (const o of OUTCOMES) outcome.add(new Option(outcomeText(o), o));
    const resolve = el('button', { type: 'button', id: `resolve-${e.id}`, class: 'resolve' }, 'Resolve');
    const problem = el('p', { class: 'problem' });
    actions.append(ack, outcome, resolve, problem);
    tr.append(cells.raised, cells.room, cells.kind, cells.who, cells.location, cells.contact, cells.state, cells.tier, actions);
    const row: Row = { tr, cells, ack, outcome, resolve, problem, busy: false };
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
    row.problem.textContent = '';
    this.#renderRow(this.#book.get(incidentId)!);
    try {
      if (event === 'panic:ack') {
        await channel.request('panic:ack', { incidentId });
      } else {
        const outcome = row.outcome.value as Outcome;
        const inc = await channel.request('panic:resolve', { incidentId, outcome });
        // The server's panic:resolved broadcast usually came first; this covers a lost one.
        const claims = deskClaims(channel.token);
        this.#book.resolved({ incidentId, by: { identity: claims.identity ?? 'desk', role: 'desk' }, outcome: inc.outcome ?? outcome, at: inc.resolvedAt ?? new Date().toISOString() });
      }
    } catch (err) {
      const code = err instanceof ChannelError ? err.code : 'error';
      if (code === 'INCIDENT_NOT_FOUND') this.#book.gone(incidentId);
      else row.problem.textContent = `Could not ${event === 'panic:ack' ? 'acknowledge' : 'resolve'} (${code}).`;
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
    row.cells.raised.textContent = timeText(e.raisedAt);
    row.cells.room.textContent = e.room;
    row.cells.kind.textContent = kindText(e.kind) + (e.silent ? ' (silent)' : '');
    row.cells.who.textContent = `${roleLabel(e.raiser.role)} · ${e.raiser.identity}`;
    row.cells.location.textContent = locationText(e);
    row.cells.contact.replaceChildren();
    if (e.emergencyContact) {
      const tel = el('a', { href: `tel:${e.emergencyContact.phone.replace(/[^0-9+]/g, '')}` }, e.emergencyContact.phone);
      row.cells.contact.append(`${e.emergencyContact.name}, `, tel);
    } else {
      row.cells.contact.textContent = 'None on record';
    }
    row.cells.state.textContent = stateText(e);
    row.cells.tier.textContent = String(e.tier);
    row.ack.hidden = state !== 'open';
    row.outcome.hidden = row.resolve.hidden = state === 'resolved';
    row.ack.disabled = row.resolve.disabled = row.busy;
    row.ack.setAttribute('aria-label', `Acknowledge the alarm in room ${e.room}`);
    row.resolve.setAttribute('aria-label', `Resolve the alarm in room ${e.room}`);
    // Resolved rows sink below the open ones (kept, greyed, for the operator's overview).
    if (state === 'resolved' && row.tr.nextElementSibling) this.#tbody.append(row.tr);
    this.#summarise();
  }

  #summarise(): void {
    const open = this.#book.open();
    const unacknowledged = open.filter((e) => !e.acknowledged).length;
    this.#count.textContent = String(open.length);
    this.#table.hidden = this.#rows.size === 0;
    this.#empty.hidden = open.length > 0;
    document.title = unacknowledged > 0 ? `(${unacknowledged}) Safety desk` : 'Safety desk';
  }
}

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
  if (token) view.connect(token);
});

window.safetyDesk = {
  get state() { return view.state; },
  incidents: () => view.book.all().map((e) => ({ id: e.id, room: e.room, kind: e.kind, state: stateOf(e), tier: e.tier, firstSeenAt: e.firstSeenAt })),
  events: () => [...view.book.log],
};
