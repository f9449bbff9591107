import type { WebSocket } from 'ws';
import { Value } from '@sinclair/typebox/value';
import type { Grant } from '../domain/roles.ts';
import type { Room } from '../room/room.ts';
import type { Participant } from '../room/participant.ts';
import { SfuError, toSfuError } from '../shared/errors.ts';
import { SerialQueue } from '../shared/serial.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import type { HandlerContext, SignallingServices } from './handler.ts';
import { HANDLERS } from './handlers/index.ts';
import { MAX_NESTING, nestingWithin, wellFormedStrings } from './well-formed.ts';
import { CLOSE_CODES, RequestEnvelope, type NotificationName, type Notifications, type ResponseEnvelope } from './protocol.ts';

/** What the plugin gives a session besides its socket: limits kept across connections. */
export interface SessionLimits {
  /** The audit budget of `join`, shared by every connection of the same token. */
  readonly joinBudget?: TokenBucket;
  /** Called once, when the connection's first join response has been sent (it no longer counts as unjoined). */
  readonly onJoined?: () => void;
  /** Called when the connection is cut for a limit (4429): its token cools down. */
  readonly onCut?: () => void;
}

/** Why the server ended a connection for a limit (close reason, and the metric's label). */
type CutReason = 'RATE_LIMITED' | 'TOO_MANY_REFUSED_JOINS';

/**
 * The audit budget of updateLocation, withdrawConsent and grantConsent, per participant (so it survives a
 * resume on a new connection); kept with the participant, dropped with it.
 */
const participantAuditBudgets = new WeakMap<Participant, TokenBucket>();

/** The request's id when it is one a response may carry (a number, or a string of at most 64 characters), else null. */
function safeIdOf(msg: unknown): ResponseEnvelope['id'] {
  const id = typeof msg === 'object' && msg !== null && 'id' in msg ? (msg as { id: unknown }).id : null;
  return typeof id === 'number' || (typeof id === 'string' && id.length <= 64) ? id : null;
}

/**
 * One signalling WebSocket: parses and validates every message before a handler sees it,
 * dispatches through the method table, and binds the socket to its participant.
 *
 * Requests are handled one at a time in arrival order (responses come in request order): a
 * request starts only when the previous one was answered, so no two requests of one connection
 * ever interleave. Requests still queued when the socket closes are dropped unanswered (a leave
 * among them still takes effect: the participant leaves at once, without a grace period); a join
 * that completes after its socket closed admits nobody (or is undone at once).
 *
 * Limits (docs/protocol.md, "Limits"), checked as each frame arrives, before it is queued: the
 * connection's request budget (a token bucket; a withdrawal of a consent scope still held is
 * exempt) and the bound on queued requests; a frame over either is answered RATE_LIMITED at once
 * (ahead of the queued responses) and never handled. The
 * audit budget of join, updateLocation, withdrawConsent and grantConsent is checked when the request's turn
 * comes, before its handler. Too many refusals, or too many refused joins, end the connection
 * (4429) once the requests already accepted are answered (and its token cools down: the plugin
 * refuses its upgrades for a while); no join within the join deadline ends
 * it (4408); a socket whose unsent output passes signalling.maxBufferedBytes is terminated.
 */
export class SignallingSession implements HandlerContext {
  readonly services: SignallingServices;
  readonly grant: Grant;
  readonly remoteAddress: string;
  readonly #socket: WebSocket;
  #room: Room | undefined;
  #participant: Participant | undefined;
  #closed = false;
  #alive = true;
  readonly #requests = new SerialQueue();
  /** Set by bind(); attached once the response that bound it has been sent. */
  #pendingAttach: Participant | undefined;
  readonly #limits: SessionLimits;
  /** The connection's request budget. */
  readonly #budget: TokenBucket;
  /** RATE_LIMITED refusals tolerated (refilling over the refusal window); spent out, the connection is cut. */
  readonly #tolerance: TokenBucket;
  /** The audit budget of join when the plugin gives none (one per connection then). */
  #ownJoinBudget: TokenBucket | undefined;
  #refusedJoins = 0;
  /** Set when the connection is being cut: frames are ignored from then on. */
  #shedding = false;
  #everJoined = false;
  #joinTimer: NodeJS.Timeout | undefined;
  /** Leave requests received and not yet handled (they may still be queued when the socket closes). */
  #leavesQueued = 0;

  constructor(socket: WebSocket, grant: Grant, services: SignallingServices, remoteAddress: string, limits: SessionLimits = {}) {
    this.#socket = socket;
    this.grant = grant;
    this.services = services;
    this.remoteAddress = remoteAddress;
    this.#limits = limits;
    const cfg = services.config.signalling;
    this.#budget = new TokenBucket(cfg.rateLimit.requestsPerSecond, cfg.rateLimit.burst);
    this.#tolerance = new TokenBucket(cfg.rateLimit.maxRefusals / cfg.rateLimit.refusalWindowSeconds, cfg.rateLimit.maxRefusals);
    if (cfg.joinTimeoutSeconds > 0) this.#joinTimer = setTimeout(() => this.#joinTimedOut(), cfg.joinTimeoutSeconds * 1000).unref();
    socket.on('message', (raw, isBinary) => this.#onFrame(raw as Buffer, isBinary));
    socket.on('close', () => this.#onClose());
    socket.on('error', () => undefined);
    socket.on('pong', () => { this.#alive = true; });
  }

  /**
   * Liveness: called every ping interval. A socket that did not answer the previous ping is
   * terminated (its participant then enters the reconnection grace period).
   */
  heartbeat(): void {
    if (this.#closed) return;
    if (!this.#alive) {
      this.#socket.terminate();
      return;
    }
    if (this.#checkBuffered()) return;
    this.#alive = false;
    this.#socket.ping();
  }

  get isJoined(): boolean {
    return this.#participant !== undefined;
  }

  /** True once the socket closed (or is closing): nothing bound now would ever be told anything. */
  get closed(): boolean {
    return this.#closed || this.#socket.readyState !== this.#socket.OPEN;
  }

  /** Requests received and not yet answered (the one running included). */
  get pendingRequests(): number {
    return this.#requests.size;
  }

  joined(): { room: Room; participant: Participant } {
    if (!this.#room || !this.#participant) throw new SfuError('NOT_JOINED', 'join first');
    return { room: this.#room, participant: this.#participant };
  }

  /** Binds this socket to a participant; its notifications start after the join response. */
  bind(room: Room, participant: Participant): void {
    this.#room = room;
    this.#participant = participant;
    this.#pendingAttach = participant;
  }

  #attachPending(): void {
    const participant = this.#pendingAttach;
    this.#pendingAttach = undefined;
    if (!participant || this.#participant !== participant) return;
    if (!this.#everJoined) {
      this.#everJoined = true;
      clearTimeout(this.#joinTimer);
      this.#limits.onJoined?.();
    }
    const back = participant.state === 'detached';
    participant.attach(
      (name, data) => this.#onNotification(name, data),
      () => this.#replaced(participant),
    );
    if (back) this.#room?.reattached(participant);
  }

  unbind(): void {
    this.#pendingAttach = undefined;
    this.#room = undefined;
    this.#participant = undefined;
  }

  notify<K extends NotificationName>(name: K, data: Notifications[K]): void {
    this.#send({ notification: name, data });
  }

  /** Closes the socket with a code and a coded reason (close reasons are limited to 123 bytes). */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close(code, reason.slice(0, 120));
  }

  #onNotification<K extends NotificationName>(name: K, data: Notifications[K]): void {
    this.notify(name, data);
    if (name === 'roomClosed' || name === 'kicked') {
      this.unbind();
      const code = name === 'kicked' ? CLOSE_CODES.FORBIDDEN : CLOSE_CODES.ROOM_CLOSED;
      this.close(code, name === 'kicked' ? 'KICKED' : (data as Notifications['roomClosed']).reason);
    }
  }

  #replaced(participant: Participant): void {
    if (this.#participant !== participant) return;
    this.unbind();
    this.close(CLOSE_CODES.SESSION_REPLACED, 'SESSION_REPLACED');
  }

  /**
   * A frame arrived: queued as a request if the connection's budget and queue allow, else refused
   * at once with RATE_LIMITED (the refusal is not queued, so it may overtake earlier responses).
   */
  #onFrame(raw: Buffer, isBinary: boolean): void {
    if (this.#shedding || this.closed) return;
    const cfg = this.services.config.signalling;
    // Parsed once, here (handled below or in its turn).
    const msg = parseFrame(raw, isBinary, cfg.maxMessageBytes);
    if (!this.#budget.take()) {
      // Over budget. Only a withdrawal of a consent scope still held goes through: it always takes effect.
      const withdrawal = typeof msg === 'object' && msg !== null && (msg as { method?: unknown }).method === 'withdrawConsent'
        && this.#withdrawsHeldScope((msg as { data?: unknown }).data);
      if (!withdrawal) {
        this.#rateLimited(safeIdOf(msg), 'requests',
          `over this connection's request budget (${cfg.rateLimit.requestsPerSecond}/s, burst ${cfg.rateLimit.burst}); slow down`);
        return;
      }
    }
    if (this.#requests.size >= cfg.maxQueuedRequests) {
      this.#rateLimited(safeIdOf(msg), 'queue',
        `${cfg.maxQueuedRequests} requests of this connection are waiting; wait for their responses`);
      return;
    }
    // A leave received while the socket was open takes effect even if the close overtakes it.
    if (isLeave(msg)) this.#leavesQueued++;
    void this.#requests.run(() => this.#onMessage(raw, isBinary, msg));
  }

  /** Whether `data` of a withdrawConsent names a scope this connection's participant still holds. */
  #withdrawsHeldScope(data: unknown): boolean {
    const participant = this.#participant;
    const scopes = typeof data === 'object' && data !== null ? (data as { scopes?: unknown }).scopes : undefined;
    return participant !== undefined && Array.isArray(scopes)
      && scopes.some((s) => typeof s === 'string' && participant.facts.consentScopes.has(s));
  }

  /** Answers RATE_LIMITED; more refusals than the connection's tolerance cut it. */
  #rateLimited(id: ResponseEnvelope['id'], budget: 'requests' | 'queue' | 'audit', message: string): void {
    this.services.metrics.requestRateLimited(budget);
    this.#reply(id, new SfuError('RATE_LIMITED', message));
    if (!this.#tolerance.take()) this.#cut('RATE_LIMITED');
  }

  /**
   * Ends the connection for a limit: frames are ignored from now on, the requests already accepted
   * are answered, then the socket is closed with 4429 and the reason (and terminated a second
   * later if the client does not complete the close).
   */
  #cut(reason: CutReason): void {
    if (this.#shedding || this.closed) return;
    this.#shedding = true;
    this.services.metrics.connectionCut(reason);
    this.services.log.info({ reason, room: this.grant.room }, 'signalling connection cut');
    this.#limits.onCut?.();
    void this.#requests.run(() => {
      this.close(CLOSE_CODES.RATE_LIMITED, reason);
      setTimeout(() => this.#socket.terminate(), 1000).unref();
    });
  }

  #joinTimedOut(): void {
    if (this.#everJoined || this.closed) return;
    this.services.metrics.connectionCut('JOIN_TIMEOUT');
    this.close(CLOSE_CODES.JOIN_TIMEOUT, 'JOIN_TIMEOUT');
  }

  /**
   * A client that does not read: once the socket's unsent output passes the bound, nothing more is
   * written to it and it is terminated (a joined participant then enters its reconnection grace).
   */
  #checkBuffered(): boolean {
    if (this.#socket.bufferedAmount <= this.services.config.signalling.maxBufferedBytes) return false;
    if (!this.#closed) {
      this.#closed = true;
      this.#shedding = true;
      this.services.metrics.connectionCut('SLOW_READER');
      this.services.log.info({ reason: 'SLOW_READER', room: this.grant.room, bufferedBytes: this.#socket.bufferedAmount }, 'signalling connection cut');
      this.#socket.terminate();
    }
    return true;
  }

  /**
   * The audit budget a request spends before its handler runs, if it is one that writes safety
   * records: join as a new session (per token), updateLocation, withdrawConsent and grantConsent
   * (per participant). A withdrawal of a scope still held is exempt: consent withdrawal always takes
   * effect (only the queue bound applies to it).
   */
  #auditBudget(method: string, data: unknown): TokenBucket | undefined {
    const cfg = this.services.config.signalling.auditRateLimit;
    if (method === 'join') {
      // A resume writes nothing (its refusals close the socket); joins as a new session do.
      if ((data as { resumeToken?: string }).resumeToken !== undefined) return undefined;
      if (this.#limits.joinBudget) return this.#limits.joinBudget;
      this.#ownJoinBudget ??= new TokenBucket(cfg.requestsPerSecond, cfg.burst);
      return this.#ownJoinBudget;
    }
    if (method !== 'updateLocation' && method !== 'withdrawConsent' && method !== 'grantConsent') return undefined;
    const participant = this.#participant;
    if (!participant) return undefined; // NOT_JOINED follows: nothing is written
    if (method === 'withdrawConsent' && this.#withdrawsHeldScope(data)) return undefined;
    let budget = participantAuditBudgets.get(participant);
    if (!budget) participantAuditBudgets.set(participant, budget = new TokenBucket(cfg.requestsPerSecond, cfg.burst));
    return budget;
  }

  /** Handles one request in its turn; `msg` is the frame as parsed on arrival (undefined: not parseable). */
  async #onMessage(raw: Buffer, isBinary: boolean, msg: unknown): Promise<void> {
    if (this.closed) return;
    if (isLeave(msg)) this.#leavesQueued--;
    const limit = this.services.config.signalling.maxMessageBytes;
    if (isBinary) return this.#reply(null, new SfuError('MALFORMED_MESSAGE', 'binary frames are not accepted'));
    if (raw.length > limit) return this.#reply(null, new SfuError('MESSAGE_TOO_LARGE', `messages are limited to ${limit} bytes`));
    if (msg === undefined) return this.#reply(null, new SfuError('MALFORMED_MESSAGE', 'message is not valid JSON'));
    if (!wellFormedStrings(msg)) return this.#reply(safeIdOf(msg), new SfuError('MALFORMED_MESSAGE', 'strings must be well-formed Unicode (no lone surrogates)'));
    if (!nestingWithin(msg, MAX_NESTING)) return this.#reply(safeIdOf(msg), new SfuError('INVALID_REQUEST', `objects and arrays nest at most ${MAX_NESTING} levels deep`));
    if (!Value.Check(RequestEnvelope, msg)) {
      return this.#reply(safeIdOf(msg), new SfuError('INVALID_REQUEST', 'a request is {id, method, data}'));
    }
    const handler = HANDLERS.get(msg.method);
    const metrics = this.services.metrics;
    if (!handler) {
      metrics.signallingRequest('unknown', 'UNKNOWN_METHOD');
      return this.#reply(msg.id, new SfuError('UNKNOWN_METHOD', `unknown method ${msg.method.slice(0, 64)}`));
    }
    const data = msg.data ?? {};
    if (!handler.check.Check(data)) {
      const first = handler.check.Errors(data).First();
      const field = first?.path.slice(1).replaceAll('/', '.') || 'data';
      metrics.signallingRequest(handler.method, 'INVALID_REQUEST');
      return this.#reply(msg.id, new SfuError('INVALID_REQUEST', `${field}: ${first?.message ?? 'invalid'}`));
    }
    const audit = this.#auditBudget(handler.method, data);
    if (audit && !audit.take()) {
      metrics.signallingRequest(handler.method, 'RATE_LIMITED');
      const { requestsPerSecond, burst } = this.services.config.signalling.auditRateLimit;
      return this.#rateLimited(msg.id, 'audit', `${handler.method} writes a safety record: at most ${requestsPerSecond}/s (burst ${burst}); nothing was done`);
    }
    try {
      const result = await handler.handle(this, data);
      metrics.signallingRequest(handler.method, 'ok');
      if (this.closed) return this.#abandonPending();
      this.#send({ id: msg.id, ok: true, data: result ?? {} });
      this.#attachPending();
      if (handler.method === 'leave') this.close(CLOSE_CODES.NORMAL, 'LEFT');
    } catch (err) {
      const coded = toSfuError(err);
      if (coded.code === 'INTERNAL_ERROR') this.services.log.error({ err, method: handler.method }, 'handler failed');
      metrics.signallingRequest(handler.method, coded.code);
      this.#reply(msg.id, coded);
      if (handler.method === 'join') this.#refused(coded);
    }
  }

  /**
   * The socket closed while a request that bound a participant was running: the client never
   * learnt its resume token, so a participant admitted by that request leaves at once; a resumed
   * one stays detached (its grace period runs on).
   */
  #abandonPending(): void {
    const participant = this.#pendingAttach;
    const room = this.#room;
    if (!participant || !room || this.#participant !== participant) return;
    this.unbind();
    if (!participant.everAttached) room.remove(participant, 'DISCONNECTED');
  }

  /**
   * A refused join ends the connection with a close code matching the reason; a refusal that
   * leaves it open counts, and `signalling.maxRefusedJoins` of them on a connection that has not
   * joined end it (4429 TOO_MANY_REFUSED_JOINS): one socket cannot write refusal records forever.
   */
  #refused(err: SfuError): void {
    // Not a refusal: the client is sent to the room's node (and nothing was recorded here).
    if (err.code === 'ROOM_ELSEWHERE') return;
    const code = err.code === 'DUPLICATE_IDENTITY' ? CLOSE_CODES.DUPLICATE_IDENTITY
      : err.code === 'SERVER_DRAINING' ? CLOSE_CODES.SERVER_DRAINING
        : err.status === 401 ? CLOSE_CODES.UNAUTHORIZED
          : err.status === 403 ? CLOSE_CODES.FORBIDDEN : undefined;
    if (code !== undefined) return this.close(code, err.code);
    if (this.isJoined) return;
    if (++this.#refusedJoins >= this.services.config.signalling.maxRefusedJoins) this.#cut('TOO_MANY_REFUSED_JOINS');
  }

  #reply(id: ResponseEnvelope['id'], err: SfuError): void {
    this.#send({ id, ok: false, error: err.toJSON() });
  }

  #send(msg: object): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify(msg));
    this.#checkBuffered();
  }

  #onClose(): void {
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    this.services.metrics.connectionClosed();
    const room = this.#room;
    const participant = this.#participant;
    const pending = this.#pendingAttach;
    this.unbind();
    if (!room || !participant || participant.closed) return;
    if (pending === participant) {
      // Bound by a request whose response was never sent: nobody holds its resume token.
      if (!participant.everAttached) room.remove(participant, 'DISCONNECTED');
      return;
    }
    // The client sent leave and closed: the close overtook the queued leave, which still stands.
    if (this.#leavesQueued > 0) return room.remove(participant, 'LEFT');
    const graceMs = this.services.config.signalling.reconnectGraceSeconds * 1000;
    room.detach(participant, graceMs);
  }
}

const isLeave = (msg: unknown) => typeof msg === 'object' && msg !== null && (msg as { method?: unknown }).method === 'leave';

/** A frame looked at before it is queued (parsed only when it could be a request at all); undefined if it cannot. */
function parseFrame(raw: Buffer, isBinary: boolean, limit: number): unknown {
  if (isBinary || raw.length > limit) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
