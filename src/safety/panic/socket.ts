import type { Server as HttpServer } from 'node:http';
import { Server, type Namespace, type ServerOptions, type Socket } from 'socket.io';
import jwt from 'jsonwebtoken';
import type { TokenVerifier } from '../../auth/verifier.ts';
import { deskCovers, type Grant } from '../../domain/roles.ts';
import { assertNotRevoked, type Revocation, type RevocationList } from '../../auth/revocations.ts';
import type { RoomRegistry } from '../../room/registry.ts';
import { CLINICAL_ROLES } from '../../room/participant.ts';
import { SfuError, toSfuError, type ErrorCode } from '../../shared/errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { TokenBucket } from '../../shared/token-bucket.ts';
import type { Alert, PanicFanout } from './alert.ts';
import type { PanicService } from './service.ts';
import type { Incident } from '../../domain/incident.ts';
import { PanicAck, PanicCancel, PanicRaise, PanicResolve, compile, type Checked, type Static } from './events.ts';
import type { TSchema } from '@sinclair/typebox';
import { deskRevokedEverywhere, endedBy, inScope, isRevoked, revocationTags, revokedTags, type Who } from './scope.ts';
import { fromWire, isRemoteReply, RemoteCommand, toWire, type RemoteReply } from './remote.ts';

/**
 * Panic commands to the node that holds an incident (several nodes, docs/scaling.md): the cluster
 * layer implements it over Redis. `request` resolves with the holder's reply, or undefined when
 * none came within `timeoutMs`; `serve` answers other nodes' commands (undefined: not held here).
 */
export interface PanicRemote {
  request(body: unknown, timeoutMs: number): Promise<unknown>;
  serve(handler: (body: unknown) => Promise<unknown>): void;
}
/** An ack, cancel or resolve as the socket received it (or another node forwarded it). */
type Command = { op: 'ack' | 'cancel' | 'resolve'; incidentId: string; outcome?: Static<typeof PanicResolve>['outcome']; note?: string | undefined; acknowledge?: boolean | undefined };

/** The /safety socket.io server's limits (config `safety.socket`). */
export interface SafetySocketLimits {
  readonly connectTimeoutSeconds: number;
  readonly maxMessageBytes: number;
  readonly pingIntervalSeconds: number;
  readonly pingTimeoutSeconds: number;
  /** Events other than panic:raise, per socket: a token bucket. */
  readonly eventsPerSecond: number;
  readonly eventBurst: number;
  /** Open sockets per identity (a participant's in its room; a desk's); one more closes the oldest. */
  readonly maxSocketsPerIdentity: number;
}

const DEFAULT_SAFETY_SOCKET_LIMITS: SafetySocketLimits = {
  connectTimeoutSeconds: 10, maxMessageBytes: 16 * 1024, pingIntervalSeconds: 10, pingTimeoutSeconds: 5, eventsPerSecond: 10, eventBurst: 20, maxSocketsPerIdentity: 16,
};

type Reply = (res: { ok: true; data: unknown } | { ok: false; error: { code: string; message: string } }) => void;

interface EventHandler<S extends TSchema> {
  readonly input: Checked<S>;
  handle(who: Who, data: Static<S>): Promise<unknown>;
}

const clinicalRoom = (room: string) => `c:${room}`;
const raiserRoom = (room: string, identity: string) => `p:${room}:${identity}`;
const deskRooms = (room: string) => ['desk:*', `desk:${room}`];

/**
 * The /safety namespace (socket.io, so that school proxies that block WebSockets still pass
 * alarms over HTTP long-polling). Authenticated in the handshake with a room token or a desk token.
 * Revocations are checked at the handshake, on every event, and in every fan-out (a revoked
 * identity's sockets are left out); `disconnectRevoked` ends the sockets a new revocation denies.
 */
export class PanicSocketServer implements PanicFanout {
  readonly io: Server;
  readonly #nsp: Namespace;
  readonly #rooms: RoomRegistry;
  readonly #revocations: RevocationList;
  readonly #service: PanicService;
  readonly #log: Logger;
  readonly #handlers: Record<string, EventHandler<TSchema>>;

  readonly #limits: SafetySocketLimits;
  /** Open sockets per identity, oldest first (see #bound). */
  readonly #byIdentity = new Map<string, Socket[]>();
  readonly #metrics: Metrics | undefined;
  #remote: { relay: PanicRemote; timeoutMs: number } | undefined;

  constructor(opts: {
    server: HttpServer; verifier: TokenVerifier; revocations: RevocationList; rooms: RoomRegistry; service: PanicService; log: Logger;
    limits?: SafetySocketLimits; metrics?: Metrics;
    /** socket.io's Redis adapter with several nodes: broadcasts reach every node's sockets (docs/scaling.md). */
    adapter?: ServerOptions['adapter'];
  }) {
    const limits = opts.limits ?? DEFAULT_SAFETY_SOCKET_LIMITS;
    this.#limits = limits;
    this.#metrics = opts.metrics;
    this.#rooms = opts.rooms;
    this.#revocations = opts.revocations;
    this.#service = opts.service;
    this.#log = opts.log;
    const before = opts.server.listeners('upgrade');
    this.io = new Server(opts.server, {
      path: '/socket.io', serveClient: false, destroyUpgrade: false,
      maxHttpBufferSize: limits.maxMessageBytes,
      connectTimeout: limits.connectTimeoutSeconds * 1000,
      pingInterval: limits.pingIntervalSeconds * 1000,
      pingTimeout: limits.pingTimeoutSeconds * 1000,
      // Several nodes: a page served by one node (or the load balancer) opens /safety on its room's
      // node, another origin. Auth is the token in the handshake, never a cookie, so allowing any
      // origin grants a page nothing it did not already hold (docs/scaling.md).
      ...(opts.adapter ? { adapter: opts.adapter, cors: { origin: true, credentials: false } } : {}),
    });
    routeUpgrades(opts.server, before);
    // socket.io always has the main namespace '/', which would hold unauthenticated connections
    // open: refused (NOT_FOUND), so the connection closes after connectTimeout like any handshake
    // that joins no namespace.
    this.io.of('/').use((_socket, next) => next(Object.assign(new Error('NOT_FOUND'), { data: { code: 'NOT_FOUND', message: 'the panic channel is the /safety namespace' } })));
    this.#nsp = this.io.of('/safety');
    this.#nsp.use((socket, next) => {
      try {
        socket.data.who = authenticate(socket, opts.verifier, opts.revocations);
        next();
      } catch (err) {
        const coded = toSfuError(err);
        next(Object.assign(new Error(coded.code), { data: coded.toJSON() }));
      }
    });
    this.#handlers = {
      'panic:raise': { input: compile(PanicRaise), handle: (who, d) => this.#raise(who, d as Static<typeof PanicRaise>) },
      'panic:ack': { input: compile(PanicAck), handle: (who, d) => this.#command(who, { op: 'ack', ...(d as Static<typeof PanicAck>) }) },
      'panic:resolve': { input: compile(PanicResolve), handle: (who, d) => this.#command(who, { op: 'resolve', ...(d as Static<typeof PanicResolve>) }) },
      'panic:cancel': { input: compile(PanicCancel), handle: (who, d) => this.#command(who, { op: 'cancel', ...(d as Static<typeof PanicCancel>) }) },
    };
    this.#nsp.on('connection', (socket) => this.#onConnection(socket));
  }

  #onConnection(socket: Socket): void {
    const who = socket.data.who as Who;
    // Revoked between the handshake check and now (disconnectRevoked did not see this socket yet).
    if (who.kind === 'participant' ? isRevoked(this.#revocations, who, who.grant.room) : deskRevokedEverywhere(this.#revocations, who)) {
      socket.disconnect(true);
      return;
    }
    void socket.join(revocationTags(who));
    if (who.kind === 'desk') {
      void socket.join(who.desk.rooms === '*' ? 'desk:*' : [...who.desk.rooms].map((r) => `desk:${r}`));
    } else {
      void socket.join([`r:${who.grant.room}`, raiserRoom(who.grant.room, who.grant.identity)]);
      if (CLINICAL_ROLES.has(who.grant.role)) void socket.join(clinicalRoom(who.grant.room));
    }
    this.#bound(socket, who);
    const budget = new TokenBucket(this.#limits.eventsPerSecond, this.#limits.eventBurst);
    for (const [event, h] of Object.entries(this.#handlers)) {
      socket.on(event, (data: unknown, reply?: Reply) => {
        const answer: Reply = typeof reply === 'function' ? reply : () => undefined;
        if (this.#overBudget(budget, event, answer)) return;
        void this.#dispatch(who, h, data, answer);
      });
    }
    // An event this channel does not have still gets its answer (a client waiting on its
    // acknowledgement must not wait forever): UNKNOWN_METHOD, within the socket's event budget.
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && Object.hasOwn(this.#handlers, event)) return;
      const reply = args.at(-1);
      if (typeof reply !== 'function') return;
      const answer = reply as Reply;
      if (this.#overBudget(budget, 'unknown', answer)) return;
      answer({ ok: false, error: new SfuError('UNKNOWN_METHOD', `unknown event ${String(event).slice(0, 64)}`).toJSON() });
    });
    if (this.#isResponder(who)) {
      // What the tiers will do, so that pages can say what comes next and when (docs/safety.md).
      socket.emit('panic:escalation-plan', { tiers: this.#service.escalationPlan() });
      void this.#replay(socket, who);
    }
  }

  /**
   * At most `maxSocketsPerIdentity` open sockets per identity (a participant's in its room, a
   * desk's): one more closes the oldest (`panic:closed` TOO_MANY_CONNECTIONS, then a disconnect),
   * never the new one, so a page that reconnects (while its old sockets wait for their ping
   * timeout) always gets its panic channel, and one token cannot hold the node's sockets.
   */
  #bound(socket: Socket, who: Who): void {
    const key = who.kind === 'desk' ? `d:${who.desk.identity}` : `p:${who.grant.room}:${who.grant.identity}`;
    const open = this.#byIdentity.get(key) ?? [];
    this.#byIdentity.set(key, open);
    open.push(socket);
    socket.once('disconnect', () => {
      const i = open.indexOf(socket);
      if (i >= 0) open.splice(i, 1);
      if (open.length === 0 && this.#byIdentity.get(key) === open) this.#byIdentity.delete(key);
    });
    while (open.length > this.#limits.maxSocketsPerIdentity) {
      const oldest = open.shift()!;
      oldest.emit('panic:closed', new SfuError('TOO_MANY_CONNECTIONS', `at most ${this.#limits.maxSocketsPerIdentity} /safety connections per identity: this one was the oldest`).toJSON());
      oldest.disconnect(true);
    }
  }

  /**
   * The socket's event budget: every event but panic:raise spends a token, and one over it is
   * answered RATE_LIMITED without being handled. A panic is always accepted.
   */
  #overBudget(budget: TokenBucket, event: string, reply: Reply): boolean {
    if (event === 'panic:raise' || budget.take()) return false;
    this.#metrics?.safetyEventRateLimited(event);
    reply({ ok: false, error: new SfuError('RATE_LIMITED', `at most ${this.#limits.eventsPerSecond} events per second on this socket (panic:raise is never limited)`).toJSON() });
    return true;
  }

  async #dispatch(who: Who, h: EventHandler<TSchema>, data: unknown, reply: Reply): Promise<void> {
    if (!h.input.check.Check(data)) {
      const first = h.input.check.Errors(data).First();
      reply({ ok: false, error: { code: 'INVALID_REQUEST', message: `${first?.path.slice(1) || 'data'}: ${first?.message ?? 'invalid'}` } });
      return;
    }
    try {
      // The belt: a socket revoked since its handshake is refused (it is also disconnected at once).
      if (who.kind === 'participant' && isRevoked(this.#revocations, who, who.grant.room)) {
        throw new SfuError('IDENTITY_REVOKED', 'access to this room is revoked');
      }
      reply({ ok: true, data: await h.handle(who, data) });
    } catch (err) {
      const coded = toSfuError(err);
      if (coded.code === 'INTERNAL_ERROR') this.#log.error({ err }, 'panic handler failed');
      reply({ ok: false, error: coded.toJSON() });
    }
  }

  async #raise(who: Who, d: Static<typeof PanicRaise>) {
    if (who.kind !== 'participant') throw new SfuError('PERMISSION_DENIED', 'desk clients respond to alarms; participants raise them');
    const participant = this.#rooms.get(who.grant.room)?.byIdentity(who.grant.identity);
    if (!participant) throw new SfuError('NOT_JOINED', 'join the room first (consent may be withdrawn, but the participant must be in the room)');
    return this.#service.raise({ room: who.grant.room, participantId: participant.id, identity: who.grant.identity, role: who.grant.role }, d);
  }

  /**
   * Sends acks, cancels and resolves of incidents another node holds to that node (several nodes,
   * docs/scaling.md), and answers theirs for the incidents held here.
   */
  useRemote(relay: PanicRemote, o: { timeoutMs: number }): void {
    this.#remote = { relay, timeoutMs: o.timeoutMs };
    relay.serve((body) => this.#serveRemote(body));
  }

  /** An ack, cancel or resolve: here when this node holds the incident (or there is no other node), else at the node that holds it. */
  async #command(who: Who, cmd: Command): Promise<unknown> {
    if (!this.#remote || this.#service.has(cmd.incidentId)) return this.#apply(who, cmd);
    if (who.kind === 'participant' && cmd.op !== 'cancel' && !CLINICAL_ROLES.has(who.grant.role)) {
      throw new SfuError('PERMISSION_DENIED', 'only clinicians of the room or the safety desk respond');
    }
    const reply = await this.#remote.relay.request({ v: 1, ...cmd, who: toWire(who) }, this.#remote.timeoutMs);
    if (!isRemoteReply(reply)) {
      throw new SfuError('INCIDENT_OWNER_UNREACHABLE', `no node holding incident ${cmd.incidentId} answered within ${this.#remote.timeoutMs} ms (Redis or that node unreachable, or the incident is resolved): retry`);
    }
    if (reply.ok) return reply.data;
    throw new SfuError(reply.error.code as ErrorCode, reply.error.message);
  }

  async #apply(who: Who, cmd: Command): Promise<unknown> {
    const { incidentId } = cmd;
    if (cmd.op === 'ack') return this.#respond(who, incidentId, (actor) => this.#service.acknowledge(incidentId, actor));
    if (cmd.op === 'resolve') return this.#respond(who, incidentId, (actor) => this.#service.resolve(incidentId, actor, cmd.outcome!, cmd.note, { acknowledge: cmd.acknowledge === true }));
    if (who.kind !== 'participant') throw new SfuError('PERMISSION_DENIED', 'only the raiser can cancel');
    return this.#service.cancel(incidentId, { room: who.grant.room, identity: who.grant.identity, role: who.grant.role });
  }

  /** Another node's command: applied here (with this node's scope and revocation checks) when the incident is held here, else no answer. */
  async #serveRemote(body: unknown): Promise<RemoteReply | undefined> {
    if (!RemoteCommand.check.Check(body) || !this.#service.has(body.incidentId)) return undefined;
    const who = fromWire(body.who);
    try {
      if (who.kind === 'participant' && isRevoked(this.#revocations, who, who.grant.room)) throw new SfuError('IDENTITY_REVOKED', 'access to this room is revoked');
      return { ok: true, data: await this.#apply(who, body) };
    } catch (err) {
      const coded = toSfuError(err);
      if (coded.code === 'INTERNAL_ERROR') this.#log.error({ err }, 'panic command of another node failed');
      return { ok: false, error: coded.toJSON() };
    }
  }

  /** Acknowledge and resolve: clinical roles of the incident's room, or desks whose scope covers it. */
  async #respond<T>(who: Who, incidentId: string, act: (actor: { identity: string; role: Grant['role'] | 'desk' }) => Promise<T>): Promise<T> {
    const room = this.#service.roomOf(incidentId);
    if (who.kind === 'desk') {
      if (!deskCovers(who.desk, room)) throw new SfuError('PERMISSION_DENIED', 'this incident is outside your desk scope');
      if (isRevoked(this.#revocations, who, room)) throw new SfuError('IDENTITY_REVOKED', 'access to this room is revoked');
      return act({ identity: who.desk.identity, role: 'desk' });
    }
    if (who.grant.room !== room || !CLINICAL_ROLES.has(who.grant.role)) throw new SfuError('PERMISSION_DENIED', 'only clinicians of the room or the safety desk respond');
    return act({ identity: who.grant.identity, role: who.grant.role });
  }

  #isResponder(who: Who): boolean {
    return who.kind === 'desk' || CLINICAL_ROLES.has(who.grant.role);
  }

  /**
   * Every open incident in scope, once each, then `panic:replayed`. Checks are made after the
   * awaits (they are stale after them): an incident already replayed on this socket is not sent
   * again (with several nodes, one dropped to another node during the store read is in both lists;
   * one adopted meanwhile is in the store's), one resolved here while its alert was prepared is
   * left out (its `panic:resolved` may have gone to this socket already: a late replay would reopen
   * it on the page), and one held here goes as it is now.
   */
  async #replay(socket: Socket, who: Who): Promise<void> {
    const filter = (room: string) => inScope(this.#revocations, who, room);
    const sent = this.#sentSet(socket);
    const send = (incidents: Incident[]) => this.#replayTo(socket, who, incidents);
    await send(this.#service.openIncidents(filter));
    // Several nodes: the open incidents of the shared store too (bounded by the store deadline;
    // without an answer, what this node holds is all that is replayed).
    if (this.#remote) {
      const stored = await this.#service.openInStore(filter);
      if (!stored) this.#log.warn('replay: the store did not answer within its deadline: only the incidents this node holds were replayed');
      await send((stored ?? []).filter((i) => !sent.has(i.id)));
    }
    // Tells the responder its replay is complete: an incident it knew of and did not get is closed.
    socket.emit('panic:replayed', { count: sent.size });
  }

  /** The incidents replayed on this connection so far (by its replay, or by `resumed`): each goes once. */
  #sentSet(socket: Socket): Set<string> {
    return (socket.data.replayed ??= new Set<string>()) as Set<string>;
  }

  /**
   * Replayed alerts (`replay: true`) of `incidents` to one responder connection, one at a time (each
   * location read gets its whole deadline, and the first alert goes at once), each once per
   * connection. Checked again after each await: not sent meanwhile, not resolved here (`heldOnly`:
   * still held here), still in the connection's scope, still connected; the incident goes as it is
   * held now.
   */
  async #replayTo(socket: Socket, who: Who, incidents: readonly Incident[], opts: { heldOnly?: boolean; alertOf?: (i: Incident) => Promise<Alert> } = {}): Promise<void> {
    const sent = this.#sentSet(socket);
    const heldOnly = opts.heldOnly === true;
    const alertOf = opts.alertOf ?? ((i: Incident) => this.#service.alertFor(i, i.tier, true));
    for (const incident of incidents) {
      const { id, room } = incident;
      if (sent.has(id) || !inScope(this.#revocations, who, room)) continue;
      const alert = await alertOf(incident);
      if (sent.has(id) || this.#service.resolvedHere(id) || (heldOnly && !this.#service.has(id)) || !inScope(this.#revocations, who, room) || !socket.connected) continue;
      sent.add(id);
      socket.emit('panic:alert', { ...alert, incident: this.#service.held(id) ?? alert.incident });
    }
  }

  /**
   * Open incidents this node came to hold after start (read late from the store, or merged from
   * the spool backlog): to every connected responder that may see them, as its replay would have
   * sent them (once per connection: one whose replay is under way does not get them twice).
   */
  resumed(incidents: readonly Incident[]): void {
    // Each alert (its location read) is prepared once, on first need, for all the connections.
    const prepared = new Map<string, Promise<Alert>>();
    const alertOf = (i: Incident): Promise<Alert> => {
      let alert = prepared.get(i.id);
      if (!alert) prepared.set(i.id, alert = this.#service.alertFor(i, i.tier, true));
      return alert;
    };
    for (const socket of this.#nsp.sockets.values()) {
      const who = socket.data.who as Who;
      if (!this.#isResponder(who)) continue;
      void this.#replayTo(socket, who, incidents, { heldOnly: true, alertOf }).catch((err: unknown) => this.#log.error({ err }, 'replay of incidents resumed late failed'));
    }
  }

  /**
   * Redis is back after an outage (several nodes): what other nodes broadcast meanwhile never
   * reached this node's responders. Every connected responder gets the open incidents other nodes
   * hold (from the shared store, bounded by its deadline) as replayed alerts, which clients merge
   * by incident id; nothing is closed on their side (no `panic:replayed`). Resolves false when the
   * store did not answer in time.
   */
  async catchUp(): Promise<boolean> {
    if (!this.#remote) return true;
    const responders = [...this.#nsp.sockets.values()].filter((s) => this.#isResponder(s.data.who as Who));
    if (responders.length === 0) return true;
    const stored = await this.#service.openInStore(() => true);
    const elsewhere = stored?.filter((i) => !this.#service.has(i.id));
    if (!elsewhere) {
      this.#log.warn('catch-up after a Redis outage: the store did not answer within its deadline; responders get the incidents on their next replay');
      return false;
    }
    const alerts = await Promise.all(elsewhere.map((i) => this.#service.alertFor(i, i.tier, true)));
    for (const socket of responders) {
      if (!socket.connected) continue;
      const who = socket.data.who as Who;
      for (const alert of alerts) if (inScope(this.#revocations, who, alert.incident.room)) socket.emit('panic:alert', alert);
    }
    this.#log.info({ incidents: alerts.length, responders: responders.length }, 'caught up after a Redis outage: open incidents of other nodes sent to this node\'s responders');
    return true;
  }

  // PanicFanout

  alertClinicians(room: string, alert: Alert): number {
    let reached = this.#emit([clinicalRoom(room)], room, 'panic:alert', alert);
    for (const p of this.#rooms.get(room)?.participants ?? []) {
      if (p.clinical && p.connected) {
        p.notify('panicAlert', alert as unknown as Record<string, unknown>);
        reached++;
      }
    }
    return reached;
  }

  alertDesks(room: string, alert: Alert): number {
    return this.#emit(deskRooms(room), room, 'panic:alert', alert);
  }

  /** To the room's other participants: not its clinical roles (they get the alert), not the raiser's own sockets. */
  announceToRoom(room: string, incident: Incident): void {
    this.#nsp.to(`r:${room}`).except([clinicalRoom(room), raiserRoom(room, incident.identity), ...revokedTags(this.#revocations, room)])
      .emit('panic:announce', { incidentId: incident.id, kind: incident.kind, raisedAt: incident.raisedAt });
  }

  update(room: string, event: string, payload: object, raiserIdentity: string): void {
    this.#emit([clinicalRoom(room), ...deskRooms(room), raiserRoom(room, raiserIdentity)], room, event, payload);
  }

  /** Emits to the sockets in `to`, less those revoked in `room` now; returns how many it reached. */
  #emit(to: string[], room: string, event: string, payload: object): number {
    const except = revokedTags(this.#revocations, room);
    this.#nsp.to(to).except(except).emit(event, payload);
    const rooms = this.#nsp.adapter.rooms;
    const excluded = new Set(except.flatMap((r) => [...(rooms.get(r) ?? [])]));
    const reached = new Set(to.flatMap((r) => [...(rooms.get(r) ?? [])]).filter((id) => !excluded.has(id)));
    return reached.size;
  }

  /**
   * A revocation just took hold: disconnects, at once, every socket it denies (a participant's of
   * its room; a desk left with no room). Returns how many. Desks that keep other rooms stay
   * connected and no longer receive or handle anything of the revoked room.
   */
  disconnectRevoked(r: Revocation): number {
    let n = 0;
    for (const socket of [...this.#nsp.sockets.values()]) {
      if (!endedBy(this.#revocations, socket.data.who as Who, r)) continue;
      socket.disconnect(true);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    // Not io.close(): that would close the HTTP server, which fastify owns and closes itself.
    // Local only: with the Redis adapter, a plain disconnectSockets would ask every node.
    this.io.local.disconnectSockets(true);
    this.io.engine.close();
  }
}

function authenticate(socket: Socket, verifier: TokenVerifier, revocations: RevocationList): Who {
  const auth = socket.handshake.auth as { token?: unknown };
  const token = typeof auth.token === 'string' ? auth.token : undefined;
  const decoded = token ? jwt.decode(token) : null;
  if (decoded && typeof decoded === 'object' && decoded.role === 'desk') {
    const who: Who = { kind: 'desk', desk: verifier.verifyDesk(token), tokenId: typeof decoded.jti === 'string' ? decoded.jti : undefined };
    if (deskRevokedEverywhere(revocations, who)) throw new SfuError('IDENTITY_REVOKED', 'access to every room of this desk token is revoked');
    return who;
  }
  const grant = verifier.verify(token);
  assertNotRevoked(revocations, grant);
  return { kind: 'participant', grant };
}

/**
 * socket.io and @fastify/websocket both listen for HTTP upgrades on the same server; fastify would
 * answer /socket.io/ upgrades with a 404. Route each upgrade to exactly one of them by path.
 */
function routeUpgrades(server: HttpServer, fastifyListeners: Function[]): void {
  const engineListeners = server.listeners('upgrade').filter((l) => !fastifyListeners.includes(l));
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req, socket, head) => {
    const targets = req.url?.startsWith('/socket.io/') ? engineListeners : fastifyListeners;
    for (const l of targets) (l as (...a: unknown[]) => void).call(server, req, socket, head);
  });
}
