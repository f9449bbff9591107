import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { TokenVerifier } from '../auth/verifier.ts';
import { assertNotRevoked } from '../auth/revocations.ts';
import type { Grant } from '../domain/roles.ts';
import { bearerCredential } from '../shared/bearer.ts';
import { SfuError, toSfuError } from '../shared/errors.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import type { SignallingServices } from './handler.ts';
import { SignallingSession } from './session.ts';
import { CLOSE_CODES } from './protocol.ts';

declare module 'fastify' {
  interface FastifyRequest {
    sfuGrant?: Grant;
    /** Frees this upgrade's place among its token's unjoined connections (idempotent). */
    sfuUnjoinedSlot?: () => void;
  }
}

export interface SignallingPluginOptions {
  readonly services: SignallingServices;
  readonly verifier: TokenVerifier;
  /** Open sessions, so the app can tell them about a drain. */
  readonly sessions: Set<SignallingSession>;
}

/** Upgrade frames larger than this are cut by ws itself (close 1009); smaller oversize gets MESSAGE_TOO_LARGE. */
const HARD_FRAME_LIMIT = 1024 * 1024;

/** The key a token's limits are kept under: its token id (jti) when it has one, else its room and identity. */
function tokenKey(grant: Grant): string {
  return grant.tokenId !== undefined ? `${grant.room}\0jti\0${grant.tokenId}` : `${grant.room}\0sub\0${grant.identity}`;
}

/**
 * Open /rtc connections per token that have not joined yet. A place is taken when the upgrade is
 * accepted and freed when the connection's first join response is sent or its TCP socket closes
 * (whichever comes first), so parallel upgrades cannot overshoot the bound.
 */
class UnjoinedConnections {
  readonly #counts = new Map<string, number>();

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Takes a place; returns the function that frees it (once). */
  take(key: string): () => void {
    this.#counts.set(key, this.count(key) + 1);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const n = this.count(key) - 1;
      if (n > 0) this.#counts.set(key, n);
      else this.#counts.delete(key);
    };
  }
}

function tokenFrom(req: FastifyRequest): string | undefined {
  const fromHeader = bearerCredential(req.headers.authorization);
  if (fromHeader !== undefined) return fromHeader;
  const q = req.query as Record<string, unknown>;
  return typeof q.token === 'string' ? q.token : undefined;
}

/**
 * Signalling over WebSocket at /rtc. The room token is verified before the upgrade:
 * a refused client gets an HTTP error with a coded body and never a socket.
 */
export async function signallingPlugin(app: FastifyInstance, opts: SignallingPluginOptions): Promise<void> {
  const { services, verifier, sessions } = opts;
  const limits = services.config.signalling;
  const unjoined = new UnjoinedConnections();
  /** Tokens whose last connection was cut with 4429, until when (performance.now() ms) their upgrades are refused. */
  const cooldowns = new Map<string, number>();
  /** The audit budget of join, per token (across its connections); a bucket that refilled is dropped. */
  const joinBudgets = new Map<string, TokenBucket>();
  const joinBudget = (key: string) => {
    let b = joinBudgets.get(key);
    if (!b) joinBudgets.set(key, b = new TokenBucket(limits.auditRateLimit.requestsPerSecond, limits.auditRateLimit.burst));
    return b;
  };
  await app.register(websocket, {
    options: { maxPayload: HARD_FRAME_LIMIT },
    // A client's protocol error (invalid UTF-8, a frame over the hard limit, a bad opcode) is the
    // client's fault, not the server's: logged at info, not error, so a client cannot fill the error
    // log at will; ws has already closed the socket with the matching code.
    errorHandler: (err, socket, req) => {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) req.log.info({ code }, 'websocket protocol error from client');
      else req.log.warn({ err }, 'websocket error');
      socket.terminate();
    },
  });
  const heartbeat = setInterval(() => {
    for (const s of sessions) s.heartbeat();
    for (const [key, b] of joinBudgets) if (b.full) joinBudgets.delete(key);
    const now = performance.now();
    for (const [key, until] of cooldowns) if (until <= now) cooldowns.delete(key);
  }, services.config.signalling.pingIntervalSeconds * 1000).unref();
  app.addHook('onClose', async () => clearInterval(heartbeat));

  app.get('/rtc', {
    websocket: true,
    preValidation: async (req, reply) => {
      try {
        if (services.rooms.draining) throw new SfuError('SERVER_DRAINING', 'server is draining; join another node');
        const q = req.query as Record<string, unknown>;
        const room = typeof q.room === 'string' && q.room !== '' ? q.room : undefined;
        const grant = verifier.verify(tokenFrom(req), room);
        assertNotRevoked(services.revocations, grant);
        const key = tokenKey(grant);
        const coolUntil = cooldowns.get(key) ?? 0;
        if (coolUntil > performance.now()) {
          throw new SfuError('RATE_LIMITED', `a connection with this token was closed for exceeding its limits; retry in ${Math.ceil((coolUntil - performance.now()) / 1000)} s`);
        }
        if (unjoined.count(key) >= limits.maxUnjoinedPerToken) {
          throw new SfuError('TOO_MANY_CONNECTIONS', `${limits.maxUnjoinedPerToken} connections with this token have not joined; join on one or close them`);
        }
        req.sfuGrant = grant;
        // Only an upgrade takes a place (a plain GET learning the code holds none).
        if (req.headers.upgrade?.toLowerCase() === 'websocket') {
          const free = unjoined.take(key);
          req.sfuUnjoinedSlot = free;
          req.raw.socket.once('close', free);
        }
      } catch (err) {
        const coded = toSfuError(err);
        // A browser cannot read why its upgrade was refused, so clients may repeat the same URL as
        // a plain GET to learn the code: answer it the same way, but count and log only upgrades.
        if (req.headers.upgrade?.toLowerCase() === 'websocket') {
          services.metrics.authFailed(coded.code);
          services.log.info({ reason: coded.code }, 'signalling connection refused');
        }
        return reply.code(coded.status).send({ error: coded.toJSON() });
      }
    },
  }, (socket, req) => {
    const grant = req.sfuGrant;
    if (!grant) {
      socket.close(CLOSE_CODES.UNAUTHORIZED, 'TOKEN_MISSING');
      return;
    }
    services.metrics.connectionOpened();
    const key = tokenKey(grant);
    const session = new SignallingSession(socket, grant, services, req.ip, {
      joinBudget: joinBudget(key),
      onCut: () => {
        if (limits.rateLimit.cooldownSeconds > 0) cooldowns.set(key, performance.now() + limits.rateLimit.cooldownSeconds * 1000);
      },
      ...(req.sfuUnjoinedSlot ? { onJoined: req.sfuUnjoinedSlot } : {}),
    });
    sessions.add(session);
    socket.on('close', () => sessions.delete(session));
  });
}
