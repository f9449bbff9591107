import type { WebSocket } from 'ws';
import { Value } from '@sinclair/typebox/value';
import type { Grant } from '../auth/grant.ts';
import type { Room } from '../room/room.ts';
import type { Participant } from '../room/participant.ts';
import { SfuError, toSfuError } from '../shared/errors.ts';
import { SerialQueue } from '../shared/serial.ts';
import type { HandlerContext, SignallingServices } from './handler.ts';
import { HANDLERS } from './handlers/index.ts';
import { CLOSE_CODES, RequestEnvelope, type NotificationName, type Notifications, type ResponseEnvelope } from './protocol.ts';

/**
 * One signalling WebSocket: parses and validates every message before a handler sees it,
 * dispatches through the method table, and binds the socket to its participant.
 *
 * Requests are handled one at a time in arrival order (responses come in request order): a
 * request starts only when the previous one was answered, so no two requests of one connection
 * ever interleave. Requests still queued when the socket closes are dropped unanswered; a join
 * that completes after its socket closed admits nobody (or is undone at once).
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

  constructor(socket: WebSocket, grant: Grant, services: SignallingServices, remoteAddress: string) {
    this.#socket = socket;
    this.grant = grant;
    this.services = services;
    this.remoteAddress = remoteAddress;
    socket.on('message', (raw, isBinary) => void this.#requests.run(() => this.#onMessage(raw as Buffer, isBinary)));
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
    participant.attach(
      (name, data) => this.#onNotification(name, data),
      () => this.#replaced(participant),
    );
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

  async #onMessage(raw: Buffer, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    const limit = this.services.config.signalling.maxMessageBytes;
    if (isBinary) return this.#reply(null, new SfuError('MALFORMED_MESSAGE', 'binary frames are not accepted'));
    if (raw.length > limit) return this.#reply(null, new SfuError('MESSAGE_TOO_LARGE', `messages are limited to ${limit} bytes`));
    let msg: unknown;
    try {
      msg = JSON.parse(raw.toString('utf8'));
    } catch {
      return this.#reply(null, new SfuError('MALFORMED_MESSAGE', 'message is not valid JSON'));
    }
    if (!Value.Check(RequestEnvelope, msg)) {
      const id = typeof msg === 'object' && msg !== null && 'id' in msg ? (msg as { id: unknown }).id : null;
      const safeId = typeof id === 'number' || (typeof id === 'string' && id.length <= 64) ? id : null;
      return this.#reply(safeId, new SfuError('INVALID_REQUEST', 'a request is {id, method, data}'));
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

  /** A refused join ends the connection with a close code matching the reason. */
  #refused(err: SfuError): void {
    const code = err.code === 'DUPLICATE_IDENTITY' ? CLOSE_CODES.DUPLICATE_IDENTITY
      : err.code === 'SERVER_DRAINING' ? CLOSE_CODES.SERVER_DRAINING
        : err.status === 401 ? CLOSE_CODES.UNAUTHORIZED
          : err.status === 403 ? CLOSE_CODES.FORBIDDEN : undefined;
    if (code !== undefined) this.close(code, err.code);
  }

  #reply(id: ResponseEnvelope['id'], err: SfuError): void {
    this.#send({ id, ok: false, error: err.toJSON() });
  }

  #send(msg: object): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify(msg));
  }

  #onClose(): void {
    this.#closed = true;
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
    const graceMs = this.services.config.signalling.reconnectGraceSeconds * 1000;
    participant.detach(graceMs, () => room.remove(participant, 'DISCONNECTED'));
  }
}
