import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config/load.ts';
import { resolveSecrets, type Secrets } from './config/secrets.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { Metrics } from './telemetry/metrics.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { RoomRegistry } from './room/registry.ts';
import { notRevoked } from './room/admission.ts';
import { TokenVerifier } from './auth/verifier.ts';
import { MemoryRevocationList, type RevocationList } from './auth/revocations.ts';
import { signallingPlugin } from './signalling/plugin.ts';
import type { SignallingSession } from './signalling/session.ts';
import { CLOSE_CODES } from './signalling/protocol.ts';
import { installErrorHandlers } from './http/errors.ts';
import { healthRoutes } from './http/health.ts';
import { adminRoutes } from './http/admin.ts';
import { clientRoutes } from './http/static.ts';

export interface BuildOptions {
  readonly config: Readonly<Config>;
  readonly logger?: Logger;
  /** Directory of the bundled browser client (default dist/client). */
  readonly clientDir?: string;
}

/** A built server: its parts, for main.ts and for tests. `fastify.listen` is left to the caller. */
export interface AppHandle {
  readonly fastify: FastifyInstance;
  readonly config: Readonly<Config>;
  readonly secrets: Secrets;
  readonly pool: WorkerPool;
  readonly rooms: RoomRegistry;
  readonly revocations: RevocationList;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Refuses new joins, tells clients, waits for rooms to empty (up to the drain timeout), then closes. */
  drain(): Promise<void>;
  /** Closes everything at once. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../dist/client', import.meta.url));

/** The composition root: the one place that picks implementations and wires the layers. */
export async function buildApp(opts: BuildOptions): Promise<AppHandle> {
  const { config } = opts;
  const log = opts.logger ?? createLogger(config.log.level);
  const secrets = resolveSecrets(config);
  const metrics = new Metrics();
  const verifier = new TokenVerifier({
    key: secrets.jwtKey,
    algorithms: secrets.jwtAlgorithms,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
  });
  const revocations = new MemoryRevocationList();

  const pool = await WorkerPool.create({
    size: config.media.workers || availableParallelism(),
    logLevel: config.media.workerLogLevel,
    listenIp: config.media.listenIp,
    announcedIp: config.media.announcedIp || undefined,
    basePort: config.media.rtcPort,
  }, log, metrics);

  const rooms = new RoomRegistry({
    pool,
    maxParticipants: config.rooms.maxParticipants,
    transport: { initialAvailableOutgoingBitrate: config.media.initialAvailableOutgoingBitrate, maxIncomingBitrate: config.media.maxIncomingBitrate },
    log,
    metrics,
  });

  const fastify: FastifyInstance = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: 64 * 1024, trustProxy: false });
  installErrorHandlers(fastify);
  const sessions = new Set<SignallingSession>();
  const services = { config, rooms, revocations, admission: [notRevoked(revocations)], metrics, log };
  await fastify.register(signallingPlugin, { services, verifier, sessions });
  await fastify.register(healthRoutes, {
    metrics,
    checks: { workers: () => pool.healthy, accepting: () => !rooms.draining },
  });
  await fastify.register(adminRoutes, { prefix: '/admin', adminToken: secrets.adminToken, rooms, revocations, log });
  await fastify.register(clientRoutes, { dir: opts.clientDir ?? DEFAULT_CLIENT_DIR });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      rooms.startDraining();
      rooms.closeAll('SERVER_SHUTDOWN');
      for (const s of sessions) s.close(CLOSE_CODES.SERVER_DRAINING, 'SERVER_SHUTDOWN');
      await fastify.close();
      await pool.close();
    })();
    return closing;
  };

  const drain = async () => {
    const timeoutMs = config.drain.timeoutSeconds * 1000;
    rooms.startDraining();
    log.info({ rooms: rooms.rooms.length, timeoutSeconds: config.drain.timeoutSeconds }, 'draining');
    for (const s of sessions) s.notify('serverDraining', { deadlineSeconds: config.drain.timeoutSeconds });
    const deadline = Date.now() + timeoutMs;
    while (rooms.rooms.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    rooms.closeAll('SERVER_DRAINING');
    await close();
  };

  return { fastify, config, secrets, pool, rooms, revocations, metrics, log, drain, close };
}
