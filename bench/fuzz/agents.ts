/**
 * The fuzzing agents. Each runs its own loop with its own Rng stream until the run's budget
 * (messages or time) is spent:
 *  - RawAgent: random bytes, random JSON, huge, deeply nested, binary and invalid UTF-8 frames,
 *    some connections joined first, some upgrades with broken tokens;
 *  - StructuredAgent: envelopes for every method with valid data mutated (wrong types, missing
 *    and extra fields, boundary numbers, long and unicode strings, __proto__/constructor keys),
 *    ids of every type, envelope mutations, back-to-back bursts;
 *  - StatefulAgent: participants in a few shared rooms with shared identities: join with a valid
 *    consent and location, transports, mediasoup-client-shaped produce, consumers from
 *    notifications, random methods interleaved, bursts, sockets closed or dropped mid-request,
 *    resume (in time, too late, takeover from another connection), duplicate joins, leave.
 */
import { FuzzConn, clip, expectFor, type FuzzStats, type Reply } from './client.ts';
import {
  METHODS, ROLES, SOURCES, emptyKnowledge, envelopeText, mutate, rawFrame, toJson, validData, validLocation, weirdId, randomJson,
  type Knowledge, type Method, type Role, type Source,
} from './generators.ts';
import type { MediaShapes } from './media-shapes.ts';
import type { Rng } from './prng.ts';
import type { FuzzServer } from './server.ts';

export class Budget {
  readonly #stats: FuzzStats;
  readonly #messages: number;
  readonly #deadline: number;
  #stopped = false;

  constructor(stats: FuzzStats, messages: number, seconds: number) {
    this.#stats = stats;
    this.#messages = messages;
    this.#deadline = performance.now() + seconds * 1000;
  }

  get done(): boolean {
    return this.#stopped || this.#stats.sent >= this.#messages || performance.now() >= this.#deadline;
  }

  get timedOut(): boolean {
    return performance.now() >= this.#deadline;
  }

  stop(): void {
    this.#stopped = true;
  }
}

export interface AgentEnv {
  readonly srv: FuzzServer;
  readonly stats: FuzzStats;
  readonly media: MediaShapes;
  readonly budget: Budget;
  readonly maxMessageBytes: number;
  readonly graceMs: number;
  /** Every connection opened (the runner sweeps them for hangs and closes them at the end). */
  readonly conns: Set<FuzzConn>;
  /** Resume tokens of live sessions by room/identity, shared by the stateful agents (takeovers). */
  readonly resumeTokens: Map<string, string>;
  /**
   * A room for a new session: `prefix` plus an epoch that moves on every `roomEpochMessages`
   * messages (rooms churn: new ones open, old ones must close), plus one of `count` slots.
   */
  readonly roomFor: (rng: Rng, prefix: string, count: number) => string;
  /** Client-side pace per connection, under the server's request budget (rate 0: none). */
  readonly pace: { readonly rate: number; readonly burst: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A reply, or undefined after `ms` (the request stays pending: the runner reports it as a hang). */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(undefined); });
  });
}

const REPLY_WAIT_MS = 15_000;

abstract class Agent {
  protected readonly rng: Rng;
  protected readonly env: AgentEnv;
  protected readonly index: number;
  #nextId = 0;

  constructor(rng: Rng, env: AgentEnv, index: number) {
    this.rng = rng;
    this.env = env;
    this.index = index;
  }

  abstract run(): Promise<void>;

  /** A fresh request id: an integer or a string, unique in the run. */
  protected nextId(): number | string {
    const n = ++this.#nextId;
    return this.rng.chance(0.5) ? 2 ** 40 + n * 64 + this.index : `a${this.index}.${n}${this.rng.chance(0.2) ? '·日本' : ''}`;
  }

  protected async open(room: string, identity: string, role: Role, extra: { publish?: Source[]; subscribe?: boolean } = {}): Promise<FuzzConn | undefined> {
    const token = this.env.srv.mint({ room, identity, role, ...extra });
    const conn = await FuzzConn.open(this.env.srv.wsUrl, token, this.env.stats, this.env.maxMessageBytes, room, `${this.constructor.name[0]}${this.index}:${room}/${identity}`);
    if (conn) {
      conn.setPace(this.env.pace.rate, this.env.pace.burst);
      this.env.conns.add(conn);
      void conn.closed.then(() => this.env.conns.delete(conn));
    }
    return conn;
  }

  /**
   * Sends one envelope and waits (bounded) for its reply. Paced (under the server's request
   * budget) unless `paced` is false: then it is written at once, so that calls made in one go
   * are frames back to back (the caller paces the whole burst first).
   */
  protected call(conn: FuzzConn, method: string, data: unknown, opts: { id?: unknown; mutateEnvelope?: boolean; kind?: string; paced?: boolean } = {}): Promise<Reply | undefined> {
    const id = 'id' in opts ? opts.id : this.nextId();
    const { text } = envelopeText(this.rng, id, method, data, { mutateEnvelope: opts.mutateEnvelope ?? false });
    // No answer in time: the hang is reported (FuzzConn.sweep); this agent drops the connection and goes on.
    const send = () => within(conn.sendText(text, opts.kind ?? 'valid'), REPLY_WAIT_MS).then((r) => {
      if (r === undefined && conn.isOpen && conn.pendingCount > 0) conn.terminate();
      return r;
    });
    return opts.paced === false ? send() : conn.pace(1).then(send);
  }

  /**
   * Frames as fast as ws writes them, well over the server's request budget: RATE_LIMITED
   * answers, and past the refusal tolerance a cut (4429) once the accepted requests are answered.
   */
  protected async flood(conn: FuzzConn, frame: () => Promise<unknown>): Promise<void> {
    const n = this.rng.int(this.env.pace.burst + 20, this.env.pace.burst * 3 + 50);
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < n && conn.isOpen && !this.env.budget.done; i++) sent.push(frame());
    await within(Promise.all(sent), REPLY_WAIT_MS);
    // Start the pace again from an empty bucket (the server's is empty too).
    conn.setPace(this.env.pace.rate, this.env.pace.burst);
    await conn.pace(this.env.pace.burst);
  }

  /** Ends a connection one way or another. */
  protected async finish(conn: FuzzConn): Promise<void> {
    if (!conn.isOpen) return;
    const how = this.rng.weighted({ leave: 4, close: 3, terminate: 2, closeCode: 1 });
    if (how === 'leave') {
      await this.call(conn, 'leave', this.rng.chance(0.8) ? {} : undefined);
      if (conn.isOpen) conn.close();
    } else if (how === 'close') conn.close();
    else if (how === 'closeCode') conn.close(this.rng.pick([1000, 1001, 3000, 4000, 4999]));
    else conn.terminate();
    await within(conn.closed, 5000);
  }

  /** A raw frame; in a burst (`keepOpen`), one that does not end the connection (redrawn a few times). */
  protected rawFrameFor(k: Knowledge, keepOpen = false) {
    const draw = () => rawFrame(this.rng, this.env.maxMessageBytes, () => {
      const method = this.rng.pick(METHODS);
      return envelopeText(this.rng, this.nextId(), method, validData(this.rng, method, k, this.env.media)).text;
    });
    let frame = draw();
    for (let i = 0; keepOpen && i < 5 && !expectFor(frame.payload, frame.binary, this.env.maxMessageBytes).reply; i++) frame = draw();
    return frame;
  }
}

/** Random and malformed frames, on joined and unjoined connections; broken upgrades now and then. */
export class RawAgent extends Agent {
  async run(): Promise<void> {
    let gen = 0;
    while (!this.env.budget.done) {
      gen++;
      if (this.rng.chance(0.05)) {
        await this.#badUpgrade();
        continue;
      }
      const role = this.rng.pick(ROLES);
      const room = `fuzz-raw-${this.index}`;
      const conn = await this.open(room, `raw${this.index}-${gen}`, role);
      if (!conn) continue;
      const k = emptyKnowledge(role, this.env.media.deviceCaps);
      if (this.rng.chance(0.4)) {
        const r = await this.call(conn, 'join', validData(this.rng, 'join', k, this.env.media));
        if (r?.ok && this.rng.chance(0.5)) {
          const t = await this.call(conn, 'createTransport', { direction: 'send' });
          if (t?.ok) k.transports.push({ id: t.data.transportId, direction: 'send' });
        }
      }
      const frames = this.rng.int(20, 300);
      for (let i = 0; i < frames && conn.isOpen && !this.env.budget.done; i++) {
        if (this.rng.chance(0.01)) {
          await this.flood(conn, () => conn.send(this.rawFrameFor(k, true)));
        } else if (this.rng.chance(0.1)) {
          const n = this.rng.int(2, 40);
          await conn.pace(n);
          const replies: Promise<unknown>[] = [];
          for (let j = 0; j < n && conn.isOpen; j++) replies.push(conn.send(this.rawFrameFor(k, true)));
          await within(Promise.all(replies), REPLY_WAIT_MS);
        } else {
          await conn.pace(1);
          await within(conn.send(this.rawFrameFor(k)), REPLY_WAIT_MS);
        }
      }
      await this.finish(conn);
    }
  }

  /** Upgrades the server must refuse with a coded HTTP error (never a socket). */
  async #badUpgrade(): Promise<void> {
    const { srv, stats, maxMessageBytes } = this.env;
    const room = `fuzz-raw-${this.index}`;
    const good = srv.mint({ room, identity: `raw${this.index}-u`, role: 'student' });
    const variant = this.rng.int(0, 6);
    const token = variant === 0 ? undefined
      : variant === 1 ? 'not.a.token'
        : variant === 2 ? `${good.slice(0, -2)}${good.endsWith('AA') ? 'BB' : 'AA'}`
          : variant === 3 ? srv.mint({ room, identity: 'expired', role: 'student', ttlSeconds: -60 })
            : variant === 4 ? good
              : variant === 5 ? 'x'.repeat(this.rng.int(1, 8000))
                : `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ room, sub: '__proto__', role: 'clinician', exp: 9e9 })).toString('base64url')}.`;
    const query: Record<string, string> = variant === 4 ? { room: this.rng.pick(['other-room', '__proto__', 'x'.repeat(200), '日本']) } : {};
    const conn = await FuzzConn.open(srv.wsUrl, token, stats, maxMessageBytes, room, `R${this.index}:upgrade`, query);
    if (conn) {
      stats.find({ kind: 'badUpgradeAccepted', conn: conn.label, detail: `variant ${variant}`, recent: conn.recent() });
      conn.terminate();
    }
  }
}

/** Envelopes for every method: valid data mutated, ids of every type, envelope mutations, bursts. */
export class StructuredAgent extends Agent {
  async run(): Promise<void> {
    let gen = 0;
    while (!this.env.budget.done) {
      gen++;
      const role = this.rng.pick(ROLES);
      const room = this.env.roomFor(this.rng, 'fuzz-st', 3);
      const identity = `st${this.index}-${gen}`;
      const conn = await this.open(room, identity, role);
      if (!conn) continue;
      const k = emptyKnowledge(role, this.env.media.deviceCaps);
      if (role === 'observer') k.publish = [];
      conn.onNotification = (name, data) => track(k, name, data);
      if (this.rng.chance(0.7)) {
        const r = await this.call(conn, 'join', validData(this.rng, 'join', k, this.env.media));
        if (r?.ok) {
          k.resumeToken = r.data.resumeToken;
          for (const dir of ['send', 'recv'] as const) {
            if (this.rng.chance(0.7)) await this.#apply(conn, k, 'createTransport', dir === 'send' ? { direction: 'send' } : { direction: 'recv', rtpCapabilities: k.deviceCaps });
          }
          for (const source of SOURCES) if (this.rng.chance(0.4)) await this.#apply(conn, k, 'produce', validData(this.rng, 'produce', { ...k, publish: [source] }, this.env.media));
        }
      }
      const steps = this.rng.int(30, 400);
      for (let i = 0; i < steps && conn.isOpen && !this.env.budget.done; i++) {
        if (this.rng.chance(0.005)) {
          await this.flood(conn, () => this.#one(conn, k, false));
        } else if (this.rng.chance(0.08)) {
          const n = this.rng.int(5, 50);
          await conn.pace(n);
          const replies: Promise<unknown>[] = [];
          for (let j = 0; j < n && conn.isOpen; j++) replies.push(this.#one(conn, k, false));
          await within(Promise.all(replies), REPLY_WAIT_MS);
        } else {
          await this.#one(conn, k, true);
        }
      }
      await this.finish(conn);
    }
  }

  /** One mutated (or, one time in five, valid) request for a random method. */
  #one(conn: FuzzConn, k: Knowledge, paced: boolean): Promise<unknown> {
    const rng = this.rng;
    const method: Method = rng.weighted<Method>({
      join: 6, createTransport: 8, connectTransport: 8, produce: 14, closeProducer: 5, pauseProducer: 5, resumeProducer: 5,
      resumeConsumer: 5, pauseConsumer: 5, restartIce: 5, closeTransport: 4, setViewport: 8, withdrawConsent: 2,
      grantConsent: 2, updateLocation: 3, reportMediaProblem: 2, leave: 1, e2eeKeys: 4,
    });
    let data: unknown = validData(rng, method, k, this.env.media);
    let kind = 'structured-valid';
    /** Unknown keys this request adds where the schemas allow none (docs/protocol.md: only rtpParameters and rtpCapabilities inner objects may have them). */
    let mustRefuse: string[] | undefined;
    if (rng.chance(0.8)) {
      const m = mutate(rng, data);
      data = m.value;
      kind = 'structured-mutated';
      mustRefuse = m.unknownFields?.filter((f) => !/(^|\.)(rtpParameters|rtpCapabilities)(\.|$)/.test(f));
    } else if (rng.chance(0.05)) {
      data = randomJson(rng, 3);
      kind = 'structured-random-data';
    }
    const id = rng.chance(0.3) ? weirdId(rng) : this.nextId();
    const mutateEnvelope = rng.chance(0.15);
    if (mutateEnvelope) kind = 'structured-envelope';
    return this.call(conn, method, data, { id, mutateEnvelope, kind, paced }).then((r) => {
      if (r?.ok) learn(k, method, data, r);
      if (r?.ok && mustRefuse?.length && !mutateEnvelope) {
        this.env.stats.find({ kind: 'unknownFieldAccepted', conn: conn.label, method, request: clip(toJson(data)), detail: `accepted unknown field(s) ${mustRefuse.join(', ')}`, recent: [] });
      }
    });
  }

  async #apply(conn: FuzzConn, k: Knowledge, method: Method, data: Record<string, unknown>): Promise<Reply | undefined> {
    const r = await this.call(conn, method, data);
    if (r?.ok) learn(k, method, data, r);
    return r;
  }
}

/** Updates what an agent knows from a successful reply. */
function learn(k: Knowledge, method: string, data: unknown, r: Reply): void {
  const d = (data ?? {}) as Record<string, unknown>;
  const forget = (id: unknown) => {
    if (typeof id !== 'string') return;
    k.foreign.push(id);
    if (k.foreign.length > 60) k.foreign.splice(0, 10);
  };
  switch (method) {
    case 'createTransport':
      if (typeof r.data?.transportId === 'string') k.transports.push({ id: r.data.transportId, direction: d.direction === 'recv' ? 'recv' : 'send' });
      break;
    case 'closeTransport': {
      const t = k.transports.find((x) => x.id === d.transportId);
      k.transports = k.transports.filter((x) => x.id !== d.transportId);
      forget(d.transportId);
      if (t?.direction === 'send') k.producers = [];
      if (t?.direction === 'recv') k.consumers = [];
      break;
    }
    case 'produce':
      if (typeof r.data?.producerId === 'string') k.producers.push({ id: r.data.producerId, kind: d.kind === 'video' ? 'video' : 'audio', source: (d.source as Source) ?? 'mic' });
      break;
    case 'closeProducer':
      k.producers = k.producers.filter((p) => p.id !== d.producerId);
      forget(d.producerId);
      break;
    case 'withdrawConsent':
      if (r.data?.mediaAllowed === false) {
        for (const t of k.transports) forget(t.id);
        k.transports = [];
        k.producers = [];
        k.consumers = [];
      }
      break;
    case 'join':
      if (typeof r.data?.resumeToken === 'string') k.resumeToken = r.data.resumeToken;
      if (Array.isArray(r.data?.transports)) k.transports = r.data.transports.map((t: { transportId: string; direction: 'send' | 'recv' }) => ({ id: t.transportId, direction: t.direction }));
      if (Array.isArray(r.data?.producers)) k.producers = r.data.producers.map((p: { producerId: string; kind: 'audio' | 'video'; source: Source }) => ({ id: p.producerId, kind: p.kind, source: p.source }));
      if (Array.isArray(r.data?.permissions?.publish)) k.publish = r.data.permissions.publish;
      for (const p of r.data?.participants ?? []) {
        if (typeof p?.participantId === 'string') k.peers.push(p.participantId);
        if (p?.role === 'clinician') k.clinicians.push(p.identity);
        for (const pr of p?.producers ?? []) forget(pr.producerId);
      }
      break;
    default:
  }
}

/** Updates what an agent knows from a notification. */
function track(k: Knowledge, name: string, data: any): void {
  switch (name) {
    case 'newConsumer':
      if (typeof data?.consumerId === 'string') k.consumers.push({ id: data.consumerId, kind: data.kind === 'video' ? 'video' : 'audio' });
      if (typeof data?.producerId === 'string') k.foreign.push(data.producerId);
      break;
    case 'consumerClosed':
      k.consumers = k.consumers.filter((c) => c.id !== data?.consumerId);
      if (typeof data?.consumerId === 'string') k.foreign.push(data.consumerId);
      break;
    case 'participantJoined':
      if (data?.role === 'clinician' && typeof data.identity === 'string') k.clinicians.push(data.identity);
      if (typeof data?.participantId === 'string') k.peers.push(data.participantId);
      break;
    case 'participantLeft':
      k.peers = k.peers.filter((id) => id !== data?.participantId);
      break;
    case 'producerClosed':
      if (typeof data?.producerId === 'string') k.foreign.push(data.producerId);
      break;
    default:
  }
  if (k.foreign.length > 60) k.foreign.splice(0, k.foreign.length - 50);
  if (k.clinicians.length > 20) k.clinicians.splice(0, 10);
  if (k.peers.length > 20) k.peers.splice(0, 10);
}

/** Identities of the shared rooms, with the role and permissions each one's tokens carry. */
const IDENTITIES: { identity: string; role: Role; publish?: Source[]; subscribe?: boolean }[] = [
  { identity: 'clin-1', role: 'clinician' },
  { identity: 'clin-2', role: 'clinician' },
  { identity: 'kid-1', role: 'student' },
  { identity: 'kid-2', role: 'student', publish: ['mic'] },
  { identity: 'kid-3', role: 'student', subscribe: false },
  { identity: 'mum-1', role: 'guardian' },
  { identity: 'obs-1', role: 'observer' },
  { identity: 'int-1', role: 'interpreter', publish: ['mic'] },
];

type Action =
  | 'createSend' | 'createRecv' | 'connect' | 'produce' | 'producerCtl' | 'consumerCtl' | 'viewport' | 'restartIce'
  | 'closeTransport' | 'updateLocation' | 'withdrawRecording' | 'withdrawTelehealth' | 'grantConsent' | 'burst' | 'mutated' | 'dropMidRequest'
  | 'takeover' | 'duplicate' | 'joinAgain' | 'leaveInBurst' | 'pause' | 'flood';

/** A participant's life in a shared room: valid flows, interleaved and interrupted. */
export class StatefulAgent extends Agent {
  async run(): Promise<void> {
    while (!this.env.budget.done) {
      await this.#session();
      if (this.rng.chance(0.2)) await sleep(this.rng.int(0, 30));
    }
  }

  async #session(): Promise<void> {
    const rng = this.rng;
    const room = this.env.roomFor(rng, 'fuzz-room', 4);
    const who = rng.pick(IDENTITIES);
    const key = `${room}/${who.identity}`;
    const extra = { ...(who.publish ? { publish: who.publish } : {}), ...(who.subscribe !== undefined ? { subscribe: who.subscribe } : {}) };
    let conn = await this.open(room, who.identity, who.role, extra);
    if (!conn) return;
    if (rng.chance(0.08)) {
      // A join on the wire, then the socket goes: whatever the join did must be undone (nobody holds its resume token).
      const k0 = emptyKnowledge(who.role, this.env.media.deviceCaps);
      void this.call(conn, 'join', validData(rng, 'join', k0, this.env.media), { paced: false });
      if (rng.chance(0.5)) await sleep(rng.int(0, 5));
      if (rng.chance(0.5)) conn.terminate();
      else conn.close();
      await within(conn.closed, 5000);
      conn = await this.open(room, who.identity, who.role, extra);
      if (!conn) return;
    }
    const k = emptyKnowledge(who.role, this.env.media.deviceCaps);
    k.publish = who.role === 'observer' ? [] : who.publish ?? SOURCES;
    const attach = (c: FuzzConn) => { c.onNotification = (name, data) => track(k, name, data); };
    attach(conn);

    // Join: sometimes a refused attempt first (the socket stays open), sometimes a takeover of a live session.
    const shared = this.env.resumeTokens.get(key);
    if (rng.chance(0.15)) await this.call(conn, 'join', rng.pick([{}, { consent: validData(rng, 'join', k, this.env.media).consent }, { location: validLocation(rng) }]));
    const joinData = shared && rng.chance(0.5) ? { resumeToken: shared } : validData(rng, 'join', { ...k, resumeToken: undefined }, this.env.media);
    const joined = await this.call(conn, 'join', joinData);
    if (!joined?.ok) {
      // DUPLICATE_IDENTITY, ROOM_FULL, RESUME_TOKEN_INVALID: the server closes; anything else, try something else then end.
      if (conn.isOpen && rng.chance(0.5)) await this.call(conn, 'createTransport', { direction: 'send' });
      await this.finish(conn);
      return;
    }
    learn(k, 'join', joinData, joined);
    this.env.resumeTokens.set(key, joined.data.resumeToken);

    const steps = rng.int(5, 60);
    for (let i = 0; i < steps && !this.env.budget.done; i++) {
      if (!conn.isOpen) {
        // Closed under us (taken over, kicked, room closed): resume now and then, else end.
        if (!k.resumeToken || rng.chance(0.5)) break;
        const next = await this.#resume(room, who, extra, k);
        if (!next) break;
        conn = next;
        attach(conn);
        continue;
      }
      const action = rng.weighted<Action>({
        createSend: 6, createRecv: 6, connect: 5, produce: 9, producerCtl: 6, consumerCtl: 6, viewport: 5, restartIce: 3,
        closeTransport: 2, updateLocation: 3, withdrawRecording: 1, withdrawTelehealth: 0.2, grantConsent: 0.4, burst: 8, mutated: 6,
        dropMidRequest: 4, takeover: 1.5, duplicate: 1, joinAgain: 1, leaveInBurst: 1, pause: 3, flood: 0.1,
      });
      const next = await this.#act(action, conn, k, room, who, extra);
      if (next === 'ended') return;
      if (next) {
        conn = next;
        attach(conn);
      }
    }
    if (conn.isOpen) await this.finish(conn);
    if (!conn.isOpen && this.env.resumeTokens.get(key) === k.resumeToken && rng.chance(0.5)) this.env.resumeTokens.delete(key);
  }

  /** Opens a new connection and resumes the session; undefined when that failed. */
  async #resume(room: string, who: (typeof IDENTITIES)[number], extra: object, k: Knowledge): Promise<FuzzConn | undefined> {
    const conn = await this.open(room, who.identity, who.role, extra);
    if (!conn) return undefined;
    const r = await this.call(conn, 'join', { resumeToken: k.resumeToken });
    if (r?.ok) {
      learn(k, 'join', {}, r);
      return conn;
    }
    if (conn.isOpen) await this.finish(conn);
    return undefined;
  }

  /** A request with valid data for this participant's state (ids mostly its own). */
  #valid(method: Method, k: Knowledge): Record<string, unknown> {
    return validData(this.rng, method, k, this.env.media);
  }

  async #do(conn: FuzzConn, k: Knowledge, method: Method, data: Record<string, unknown>): Promise<Reply | undefined> {
    const r = await this.call(conn, method, data);
    if (r?.ok) learn(k, method, data, r);
    return r;
  }

  async #act(action: Action, conn: FuzzConn, k: Knowledge, room: string, who: (typeof IDENTITIES)[number], extra: object): Promise<FuzzConn | 'ended' | undefined> {
    const rng = this.rng;
    switch (action) {
      case 'createSend': await this.#do(conn, k, 'createTransport', { direction: 'send' }); return undefined;
      case 'createRecv': await this.#do(conn, k, 'createTransport', { direction: 'recv', rtpCapabilities: k.deviceCaps }); return undefined;
      case 'connect': await this.#do(conn, k, 'connectTransport', this.#valid('connectTransport', k)); return undefined;
      case 'produce': await this.#do(conn, k, 'produce', this.#valid('produce', k)); return undefined;
      case 'producerCtl': await this.#do(conn, k, rng.pick(['pauseProducer', 'resumeProducer', 'resumeProducer', 'closeProducer'] as const), this.#valid('closeProducer', k)); return undefined;
      case 'consumerCtl': await this.#do(conn, k, rng.pick(['resumeConsumer', 'resumeConsumer', 'pauseConsumer'] as const), this.#valid('resumeConsumer', k)); return undefined;
      case 'viewport': await this.#do(conn, k, 'setViewport', this.#valid('setViewport', k)); return undefined;
      case 'restartIce': await this.#do(conn, k, 'restartIce', this.#valid('restartIce', k)); return undefined;
      case 'closeTransport': await this.#do(conn, k, 'closeTransport', this.#valid('closeTransport', k)); return undefined;
      case 'updateLocation': await this.#do(conn, k, 'updateLocation', rng.chance(0.8) ? this.#valid('updateLocation', k) : mutate(rng, this.#valid('updateLocation', k)).value as Record<string, unknown>); return undefined;
      case 'withdrawRecording': await this.#do(conn, k, 'withdrawConsent', { scopes: ['recording'] }); return undefined;
      case 'withdrawTelehealth': await this.#do(conn, k, 'withdrawConsent', { scopes: rng.chance(0.5) ? ['telehealth'] : ['telehealth', 'recording'] }); return undefined;
      case 'grantConsent': await this.#do(conn, k, 'grantConsent', this.#valid('grantConsent', k)); return undefined;
      case 'pause': await sleep(rng.int(1, 40)); return undefined;
      case 'mutated': {
        const method = rng.pick(METHODS.filter((m) => m !== 'leave'));
        await this.call(conn, method, mutate(rng, this.#valid(method, k)).value, { kind: 'stateful-mutated' });
        return undefined;
      }
      case 'joinAgain': await this.call(conn, 'join', this.#valid('join', k)); return undefined;
      case 'burst':
      case 'leaveInBurst': {
        // Many frames in one go: ws.send back to back, nothing awaited in between.
        const n = rng.int(3, 40);
        await conn.pace(n);
        const sent: Promise<unknown>[] = [];
        const leaveAt = action === 'leaveInBurst' ? rng.int(0, n - 1) : -1;
        for (let i = 0; i < n; i++) {
          const method: Method = i === leaveAt ? 'leave' : rng.pick(METHODS.filter((m) => m !== 'leave' && m !== 'join'));
          const data = this.#valid(method, k);
          const mutated = method !== 'leave' && rng.chance(0.2);
          const payload = mutated ? mutate(rng, data).value : data;
          sent.push(this.call(conn, method, payload, { kind: mutated ? 'stateful-mutated' : 'valid', paced: false }).then((r) => { if (r?.ok) learn(k, method, payload, r); }));
        }
        await within(Promise.all(sent), REPLY_WAIT_MS);
        if (action === 'leaveInBurst') {
          await within(conn.closed, 5000);
          return 'ended';
        }
        return undefined;
      }
      case 'flood': {
        await this.flood(conn, () => {
          const method = rng.pick(['restartIce', 'setViewport', 'pauseConsumer', 'resumeProducer', 'connectTransport'] as const);
          return this.call(conn, method, this.#valid(method, k), { kind: 'flood', paced: false });
        });
        return undefined;
      }
      case 'dropMidRequest': {
        // Requests on the wire, then the socket goes (close frame or a dropped TCP connection).
        const n = rng.int(1, 5);
        await conn.pace(n);
        for (let i = 0; i < n; i++) {
          const method = rng.pick(['createTransport', 'produce', 'connectTransport', 'restartIce', 'updateLocation', 'withdrawConsent', 'closeTransport', 'setViewport'] as const);
          const data = method === 'withdrawConsent' ? { scopes: ['recording'] } : this.#valid(method, k);
          void this.call(conn, method, data, { paced: false });
        }
        if (rng.chance(0.3)) await sleep(rng.int(0, 3));
        if (rng.chance(0.5)) conn.terminate();
        else conn.close();
        await within(conn.closed, 5000);
        const then = rng.weighted({ resumeNow: 6, resumeLate: 1, abandon: 2 });
        if (then === 'abandon') return 'ended';
        if (then === 'resumeLate') await sleep(this.env.graceMs + rng.int(200, 600));
        const next = await this.#resume(room, who, extra, k);
        return next ?? 'ended';
      }
      case 'takeover': {
        // A second connection resumes the session while this one is open: this one gets 4000.
        const next = await this.#resume(room, who, extra, k);
        if (!next) return undefined;
        await within(conn.closed, 5000);
        return next;
      }
      case 'duplicate': {
        // The same identity without the resume token: DUPLICATE_IDENTITY (4409); this session is untouched.
        const other = await this.open(room, who.identity, who.role, extra);
        if (other) {
          await this.call(other, 'join', this.#valid('join', { ...k, resumeToken: undefined }));
          if (other.isOpen) other.close();
        }
        return undefined;
      }
    }
  }
}

/**
 * The operator, now and then, on the shared rooms: kicks an identity (a revocation of a second or
 * two, POST /admin/rooms/:room/kick) or closes a room (DELETE /admin/rooms/:room) under its
 * participants' requests in flight. HTTP, not counted as messages; a 5xx answer is a finding.
 */
export class AdminAgent extends Agent {
  async run(): Promise<void> {
    const { srv, stats } = this.env;
    const headers = { authorization: `Bearer ${srv.handle.secrets.adminToken}`, 'content-type': 'application/json' };
    while (!this.env.budget.done) {
      await sleep(this.rng.int(200, 1500));
      if (this.env.budget.done) break;
      const room = this.env.roomFor(this.rng, 'fuzz-room', 4);
      const kick = this.rng.chance(0.6);
      const identity = this.rng.pick(IDENTITIES).identity;
      const what = kick ? `POST /admin/rooms/${room}/kick ${identity}` : `DELETE /admin/rooms/${room}`;
      try {
        const res = kick
          ? await fetch(`${srv.url}/admin/rooms/${encodeURIComponent(room)}/kick`, { method: 'POST', headers, body: JSON.stringify({ identity, durationSeconds: this.rng.int(0, 2), reason: 'fuzz' }) })
          : await fetch(`${srv.url}/admin/rooms/${encodeURIComponent(room)}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
        const body = await res.text();
        stats.bump(stats.admin, `${kick ? 'kick' : 'close'} ${res.status}`);
        if (res.status >= 500) stats.find({ kind: 'adminServerError', conn: 'admin', request: what, response: body.slice(0, 300), recent: [] });
      } catch (err) {
        stats.find({ kind: 'adminRequestFailed', conn: 'admin', request: what, detail: String(err), recent: [] });
      }
    }
  }
}
