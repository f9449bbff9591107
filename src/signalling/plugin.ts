import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { TokenVerifier } from '../auth/verifier.ts';
import type { Grant } from '../auth/grant.ts';
import { SfuError, toSfuError } from '../shared/errors.ts';
import type { SignallingServices } from './handler.ts';
import { SignallingSession } from './session.ts';
import { CLOSE_CODES } from './protocol.ts';

declare module 'fastify' {
  interface FastifyRequest {
    sfuGrant?: Grant;
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

function tokenFrom(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const q = req.query as Record<string, unknown>;
  return typeof q.token === 'string' ? q.token : undefined;
}

/**
 * Signalling over WebSocket at /rtc. The room token is verified before the upgrade:
 * a refused client gets an HTTP error with a coded body and never a socket.
 */
export async function signallingPlugin(app: FastifyInstance, opts: SignallingPluginOptions): Promise<void> {
  const { services, verifier, sessions } = opts;
  await app.register(websocket, { options: { maxPayload: HARD_FRAME_LIMIT } });
  const heartbeat = setInterval(() => {
    for (const s of sessions) s.heartbeat();
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
        const revoked = services.revocations.find(grant.room, grant.identity, grant.tokenId);
        if (revoked) throw new SfuError('IDENTITY_REVOKED', 'access to this room is revoked');
        req.sfuGrant = grant;
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
    const session = new SignallingSession(socket, grant, services, req.ip);
    sessions.add(session);
    socket.on('close', () => sessions.delete(session));
  });
}
