/**
 * The fuzzer's WebSocket client and its bookkeeping. Every frame sent is counted; for each one the
 * client works out from the bytes alone (docs/protocol.md, "Validation and limits") whether the
 * server must answer it and with which response id, or close the connection (1007 invalid UTF-8,
 * 1009 over 1 MiB). Every frame received is checked: a response must be exactly
 * {id, ok: true, data: object} or {id, ok: false, error: {code, message}} with a code from
 * ERROR_CODES and must match a request still waiting for its answer; a notification must be
 * exactly {notification, data}. INTERNAL_ERROR responses, envelope violations, answers that never
 * come (hangs) and unexpected close codes are recorded with the connection's recent messages.
 */
import { isUtf8 } from 'node:buffer';
import WebSocket from 'ws';
import { ERROR_CODES } from '../../src/shared/errors.ts';
import { CLOSE_CODES } from '../../src/domain/close-codes.ts';
import { METHODS, type Frame } from './generators.ts';

/** ws cuts frames larger than this with 1009 (src/signalling/plugin.ts). */
export const HARD_FRAME_LIMIT = 1024 * 1024;
/** Close codes the server uses (its CLOSE_CODES table, docs/protocol.md "Close codes"), plus ws's own 1007 and 1009. */
const SERVER_CLOSE_CODES = new Set<number>([...Object.values(CLOSE_CODES), 1007, 1009]);
/** A refusal any request may get instead of its own answer (the connection's budgets). */
const ANY_REQUEST_CODES = new Set(['RATE_LIMITED']);
const KNOWN_METHODS = new Set<string>(METHODS);
const SAMPLE_CHARS = 600;
const MAX_SAMPLES = 25;
/** Messages kept per connection for the reports. */
const RECENT = Number(process.env.FUZZ_RECENT ?? 60);
/** Events kept per room (all its connections). */
const ROOM_LOG = Number(process.env.FUZZ_ROOM_LOG ?? 150);

export function formatEvent(e: LogEntry): string {
  return `${new Date(e.t).toISOString().slice(11, 23)} ${e.conn} ${e.dir} ${e.text}`;
}

export interface LogEntry { readonly t: number; readonly conn: string; readonly dir: '>' | '<' | '*'; readonly text: string }

export interface Finding {
  readonly kind: string;
  readonly conn: string;
  readonly method?: string | undefined;
  readonly request?: string | undefined;
  readonly response?: string | undefined;
  readonly detail?: string | undefined;
  /** The connection's last messages, oldest first. */
  readonly recent: readonly string[];
  /** For hangs: the last events of every connection of the room, oldest first. */
  readonly roomRecent?: readonly string[];
}

/** Counters and samples shared by every connection of a run. */
export class FuzzStats {
  sent = 0;
  readonly sentBy: Record<string, number> = {};
  readonly responses: Record<string, number> = {};
  readonly responsesByMethod: Record<string, Record<string, number>> = {};
  readonly notifications: Record<string, number> = {};
  readonly closes: Record<string, number> = {};
  readonly upgrades: Record<string, number> = {};
  /** Admin API calls of the run by action and status. */
  readonly admin: Record<string, number> = {};
  connections = 0;
  /** Requests still unanswered when their socket closed (either side), by close. */
  unansweredAtClose = 0;
  readonly unansweredBy: Record<string, number> = {};
  readonly counts: Record<string, number> = {};
  readonly findings: Record<string, Finding[]> = {};
  /** The last events of each room (for leftover-room reports). */
  readonly roomLog = new Map<string, LogEntry[]>();

  bump(rec: Record<string, number>, key: string, n = 1): void {
    rec[key] = (rec[key] ?? 0) + n;
  }

  find(f: Finding): void {
    this.bump(this.counts, f.kind);
    const list = (this.findings[f.kind] ??= []);
    if (list.length < MAX_SAMPLES) list.push(f);
  }

  roomEvent(room: string, e: LogEntry): void {
    let log = this.roomLog.get(room);
    if (!log) this.roomLog.set(room, (log = []));
    log.push(e);
    if (log.length > ROOM_LOG * 1.2) log.splice(0, log.length - ROOM_LOG);
  }
}

export function clip(s: string, n = SAMPLE_CHARS): string {
  return s.length <= n ? s : `${s.slice(0, n)}…(${s.length} chars)`;
}

function describeFrame(f: Frame): string {
  if (f.binary) return `<binary ${f.payload.length} bytes: ${f.payload.subarray(0, 24).toString('hex')}>`;
  if (!isUtf8(f.payload)) return `<invalid UTF-8 text ${f.payload.length} bytes: ${clip(f.payload.toString('latin1'), 200)}>`;
  return clip(f.payload.toString('utf8'));
}

export type Expectation =
  | { readonly reply: true; readonly key: string; readonly code?: string; readonly method?: string }
  | { readonly reply: false; readonly close: number };

function validEnvelope(msg: unknown): msg is { id: number | string; method: string; data?: unknown } {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return false;
  for (const k of Object.keys(msg)) if (k !== 'id' && k !== 'method' && k !== 'data') return false;
  const { id, method } = msg as Record<string, unknown>;
  const idOk = (typeof id === 'number' && Number.isInteger(id) && id >= 0) || (typeof id === 'string' && id.length >= 1 && id.length <= 64);
  return idOk && typeof method === 'string' && method.length >= 1 && method.length <= 64;
}

/** Every string, key or value, is well-formed Unicode (no lone surrogate): docs/protocol.md's validation table. */
function wellFormedStrings(root: unknown): boolean {
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string' && !v.isWellFormed()) return false;
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!k.isWellFormed()) return false;
        stack.push(x);
      }
    }
  }
  return true;
}

/** Objects and arrays nest at most 16 levels, the envelope being level 1: docs/protocol.md's validation table. */
function nestsWithin16(root: unknown): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [v, level] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (level > 16) return false;
    for (const x of Object.values(v)) stack.push([x, level + 1]);
  }
  return true;
}

/** What the server must do with these bytes, by docs/protocol.md alone. */
export function expectFor(payload: Buffer, binary: boolean, maxMessageBytes: number): Expectation {
  if (payload.length > HARD_FRAME_LIMIT) return { reply: false, close: 1009 };
  if (binary) return { reply: true, key: 'null', code: 'MALFORMED_MESSAGE' };
  if (!isUtf8(payload)) return { reply: false, close: 1007 };
  if (payload.length > maxMessageBytes) return { reply: true, key: 'null', code: 'MESSAGE_TOO_LARGE' };
  let msg: unknown;
  try {
    msg = JSON.parse(payload.toString('utf8'));
  } catch {
    return { reply: true, key: 'null', code: 'MALFORMED_MESSAGE' };
  }
  if (!wellFormedStrings(msg)) {
    const id = typeof msg === 'object' && msg !== null && 'id' in msg ? (msg as { id: unknown }).id : null;
    const safe = typeof id === 'number' || (typeof id === 'string' && id.length <= 64) ? id : null;
    return { reply: true, key: JSON.stringify(safe), code: 'MALFORMED_MESSAGE' };
  }
  if (!nestsWithin16(msg)) {
    const id = typeof msg === 'object' && msg !== null && 'id' in msg ? (msg as { id: unknown }).id : null;
    const safe = typeof id === 'number' || (typeof id === 'string' && id.length <= 64) ? id : null;
    return { reply: true, key: JSON.stringify(safe), code: 'INVALID_REQUEST' };
  }
  if (!validEnvelope(msg)) {
    const id = typeof msg === 'object' && msg !== null && 'id' in msg ? (msg as { id: unknown }).id : null;
    const safe = typeof id === 'number' || (typeof id === 'string' && id.length <= 64) ? id : null;
    return { reply: true, key: JSON.stringify(safe), code: 'INVALID_REQUEST' };
  }
  return KNOWN_METHODS.has(msg.method)
    ? { reply: true, key: JSON.stringify(msg.id), method: msg.method }
    : { reply: true, key: JSON.stringify(msg.id), code: 'UNKNOWN_METHOD', method: 'unknown' };
}

export interface Reply { id: unknown; ok: boolean; data?: any; error?: { code: string; message: string } }

interface Pending {
  readonly method: string;
  readonly request: string;
  readonly sentAt: number;
  readonly expectCode: string | undefined;
  readonly resolve: (r: Reply | undefined) => void;
  hangReported: boolean;
}

export type NotificationHandler = (name: string, data: any) => void;

let connCounter = 0;

/** One fuzzing WebSocket connection to /rtc. */
export class FuzzConn {
  readonly label: string;
  readonly room: string;
  readonly #ws: WebSocket;
  readonly #stats: FuzzStats;
  readonly #maxMessageBytes: number;
  readonly #pending = new Map<string, Pending[]>();
  readonly #recent: string[] = [];
  #pendingCount = 0;
  #closedByClient = false;
  /** Close codes due to frames sent (1007 invalid UTF-8, 1009 over 1 MiB). */
  readonly #expectedCloses = new Set<number>();
  #joinAnswered = false;
  /**
   * Set once a RATE_LIMITED refusal came: refusals overtake queued responses, so replies that share
   * an id (null above all) can no longer be told apart, and their codes are not checked any more.
   */
  #overtaken = false;
  onNotification: NotificationHandler | undefined;
  /** Client-side pacing under the server's request budget (a token bucket; none when rate is 0). */
  #paceRate = 0;
  #paceBurst = 0;
  #paceTokens = 0;
  #paceAt = 0;
  /** Resolves with the close code and reason once the socket is closed. */
  readonly closed: Promise<{ code: number; reason: string; byClient: boolean }>;
  #isClosed = false;

  private constructor(ws: WebSocket, stats: FuzzStats, maxMessageBytes: number, room: string, label: string) {
    this.#ws = ws;
    this.#stats = stats;
    this.#maxMessageBytes = maxMessageBytes;
    this.room = room;
    this.label = label;
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      this.#isClosed = true;
      const r = reason.toString();
      this.#onClose(code, r);
      resolve({ code, reason: r, byClient: this.#closedByClient });
    }));
  }

  /** Opens a connection; resolves undefined (counted) when the upgrade is refused or fails. */
  static open(url: string, token: string | undefined, stats: FuzzStats, maxMessageBytes: number, room: string, tag: string, query: Record<string, string> = {}): Promise<FuzzConn | undefined> {
    const u = new URL(url);
    if (token !== undefined) u.searchParams.set('token', token);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    const label = `c${++connCounter}:${tag}`;
    return new Promise((resolve) => {
      const ws = new WebSocket(u, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
      const conn = new FuzzConn(ws, stats, maxMessageBytes, room, label);
      let done = false;
      const finish = (c: FuzzConn | undefined, outcome: string) => {
        if (done) return;
        done = true;
        stats.bump(stats.upgrades, outcome);
        if (c) {
          stats.connections++;
          conn.#log('*', 'open');
        }
        resolve(c);
      };
      ws.once('open', () => finish(conn, 'open'));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => {
          let code = '?';
          try {
            code = (JSON.parse(body) as { error: { code: string } }).error.code;
          } catch {
            stats.find({ kind: 'refusalWithoutCodedBody', conn: label, detail: `${res.statusCode} ${clip(body, 200)}`, recent: [] });
          }
          finish(undefined, `${res.statusCode} ${code}`);
        });
        res.on('error', () => finish(undefined, `${res.statusCode} (body error)`));
      });
      ws.once('error', (err) => finish(undefined, `error ${err.message.slice(0, 60)}`));
    });
  }

  /** Paces this connection's frames at `rate`/s with bursts of `burst` (below the server's budget). */
  setPace(rate: number, burst: number): void {
    this.#paceRate = rate;
    this.#paceBurst = burst;
    this.#paceTokens = burst;
    this.#paceAt = performance.now();
  }

  /** Waits until `n` frames may be sent back to back without going over the pace, and takes them. */
  async pace(n = 1): Promise<void> {
    if (this.#paceRate <= 0) return;
    const want = Math.min(n, this.#paceBurst);
    for (;;) {
      const now = performance.now();
      this.#paceTokens = Math.min(this.#paceBurst, this.#paceTokens + ((now - this.#paceAt) / 1000) * this.#paceRate);
      this.#paceAt = now;
      if (this.#paceTokens >= want) {
        this.#paceTokens -= n;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((want - this.#paceTokens) / this.#paceRate) * 1000)));
    }
  }

  get isOpen(): boolean {
    return !this.#isClosed && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Requests sent and not answered yet. */
  get pendingCount(): number {
    return this.#pendingCount;
  }

  #log(dir: LogEntry['dir'], text: string): void {
    const line = `${dir} ${text}`;
    this.#recent.push(line);
    if (this.#recent.length > RECENT) this.#recent.shift();
    this.#stats.roomEvent(this.room, { t: Date.now(), conn: this.label, dir, text: clip(text, 300) });
  }

  recent(): string[] {
    return [...this.#recent];
  }

  /**
   * Sends one frame (counted as one message) and resolves with its response, or undefined when
   * none is due (a frame that closes the connection) or the socket closed before it came.
   */
  send(frame: Frame): Promise<Reply | undefined> {
    if (!this.isOpen) return Promise.resolve(undefined);
    const expect = expectFor(frame.payload, frame.binary, this.#maxMessageBytes);
    const stats = this.#stats;
    stats.sent++;
    stats.bump(stats.sentBy, frame.kind);
    const shown = describeFrame(frame);
    this.#log('>', shown);
    this.#ws.send(frame.payload, { binary: frame.binary });
    if (!expect.reply) {
      this.#expectedCloses.add(expect.close);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const p: Pending = { method: expect.method ?? '(envelope)', request: shown, sentAt: performance.now(), expectCode: expect.code, resolve, hangReported: false };
      let list = this.#pending.get(expect.key);
      if (!list) this.#pending.set(expect.key, (list = []));
      list.push(p);
      this.#pendingCount++;
    });
  }

  /** Sends text (a JSON envelope, usually) as one frame. */
  sendText(text: string, kind: string): Promise<Reply | undefined> {
    return this.send({ payload: Buffer.from(text, 'utf8'), binary: false, kind });
  }

  /** Reports requests waiting longer than `ms` on an open socket (once each). */
  sweep(ms: number): void {
    if (!this.isOpen) return;
    const now = performance.now();
    for (const list of this.#pending.values()) {
      for (const p of list) {
        if (!p.hangReported && now - p.sentAt > ms) {
          p.hangReported = true;
          this.#stats.find({
            kind: 'hang', conn: this.label, method: p.method, request: p.request, detail: `no answer after ${Math.round(now - p.sentAt)} ms`,
            recent: this.recent(), roomRecent: (this.#stats.roomLog.get(this.room) ?? []).map(formatEvent),
          });
        }
      }
    }
  }

  /** Resolves once nothing is pending (or after `ms`). */
  async settle(ms: number): Promise<boolean> {
    const until = performance.now() + ms;
    while (this.#pendingCount > 0 && this.isOpen && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    return this.#pendingCount === 0 || !this.isOpen;
  }

  close(code?: number): void {
    if (this.#isClosed) return;
    this.#closedByClient = true;
    this.#log('*', `client close ${code ?? ''}`);
    try {
      this.#ws.close(code);
    } catch {
      this.#ws.terminate();
    }
  }

  /** Drops the TCP connection without a close frame (the server sees 1006). */
  terminate(): void {
    if (this.#isClosed) return;
    this.#closedByClient = true;
    this.#log('*', 'client terminate');
    this.#ws.terminate();
  }

  #violation(kind: string, detail: string, text: string): void {
    this.#stats.find({ kind, conn: this.label, response: clip(text), detail, recent: this.recent() });
  }

  #onMessage(raw: Buffer, isBinary: boolean): void {
    const stats = this.#stats;
    const text = raw.toString('utf8');
    this.#log('<', text);
    if (isBinary) return this.#violation('binaryFrameFromServer', 'the server sent a binary frame', text);
    let msg: any;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.#violation('invalidJsonFromServer', 'not JSON', text);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.#violation('malformedEnvelope', 'not an object', text);
    const keys = Object.keys(msg).sort().join(',');
    if ('notification' in msg) {
      if (keys !== 'data,notification' || typeof msg.notification !== 'string' || typeof msg.data !== 'object' || msg.data === null || Array.isArray(msg.data)) {
        return this.#violation('malformedNotification', `keys ${keys}`, text);
      }
      stats.bump(stats.notifications, msg.notification);
      if (!this.#joinAnswered && msg.notification !== 'serverDraining') this.#violation('notificationBeforeJoinResponse', msg.notification, text);
      this.onNotification?.(msg.notification, msg.data);
      return;
    }
    let code: string;
    if (msg.ok === true) {
      if (keys !== 'data,id,ok' || typeof msg.data !== 'object' || msg.data === null || Array.isArray(msg.data)) return this.#violation('malformedEnvelope', `ok response with keys ${keys}`, text);
      code = 'ok';
    } else if (msg.ok === false) {
      const e = msg.error;
      if (keys !== 'error,id,ok' || typeof e !== 'object' || e === null || Object.keys(e).sort().join(',') !== 'code,message'
        || typeof e.code !== 'string' || typeof e.message !== 'string') {
        return this.#violation('malformedEnvelope', `error response with keys ${keys}`, text);
      }
      if (!Object.hasOwn(ERROR_CODES, e.code)) this.#violation('unknownErrorCode', e.code, text);
      code = e.code;
    } else {
      return this.#violation('malformedEnvelope', `neither a response nor a notification (keys ${keys})`, text);
    }
    const idOk = msg.id === null || typeof msg.id === 'number' || (typeof msg.id === 'string' && msg.id.length <= 64);
    if (!idOk) this.#violation('malformedEnvelope', 'response id is not null, a number or a string of at most 64', text);
    const key = JSON.stringify(msg.id);
    const list = this.#pending.get(key);
    const p = list?.shift();
    if (list && list.length === 0) this.#pending.delete(key);
    stats.bump(stats.responses, code);
    if (!p) return this.#violation('unmatchedResponse', `no request waiting for id ${clip(key, 80)} (a duplicate or a made-up id)`, text);
    this.#pendingCount--;
    const byMethod = (stats.responsesByMethod[p.method] ??= {});
    stats.bump(byMethod, code);
    if (p.method === 'join' && code === 'ok') this.#joinAnswered = true;
    if (ANY_REQUEST_CODES.has(code)) this.#overtaken = true;
    if (p.expectCode && p.expectCode !== code && !ANY_REQUEST_CODES.has(code) && !this.#overtaken) {
      stats.find({ kind: 'unexpectedCode', conn: this.label, method: p.method, request: p.request, response: clip(text), detail: `expected ${p.expectCode}`, recent: this.recent() });
    }
    if (code === 'INTERNAL_ERROR') {
      stats.find({ kind: 'internalError', conn: this.label, method: p.method, request: p.request, response: clip(text), recent: this.recent() });
    }
    p.resolve(msg as Reply);
  }

  #onClose(code: number, reason: string): void {
    const stats = this.#stats;
    const by = this.#closedByClient ? 'client' : 'server';
    stats.bump(stats.closes, `${by} ${code}${reason ? ` ${reason}` : ''}`);
    this.#log('*', `closed ${code} ${reason} (${by})`);
    if (!this.#closedByClient) {
      const expected = [...this.#expectedCloses];
      // A close due to a frame of ours may come as 1006: the server closes while our frames are
      // still arriving, and the TCP reset can overtake its close frame.
      if (expected.length && !this.#expectedCloses.has(code) && code !== 1006) {
        this.#violation('unexpectedCloseCode', `expected ${expected.join(' or ')}, got ${code} ${reason}`, '');
      } else if (!expected.length && !SERVER_CLOSE_CODES.has(code)) {
        this.#violation(code === 1006 ? 'serverDroppedConnection' : 'undocumentedCloseCode', `${code} ${reason}`, '');
      }
    }
    for (const list of this.#pending.values()) {
      for (const p of list) {
        stats.unansweredAtClose++;
        stats.bump(stats.unansweredBy, `${by} ${code}${reason ? ` ${reason}` : ''}`);
        p.resolve(undefined);
      }
    }
    this.#pending.clear();
    this.#pendingCount = 0;
  }
}
