import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config/load.ts';
import { resolveSecrets, type Secrets } from './config/secrets.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { Metrics } from './telemetry/metrics.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { RoomRegistry } from './room/registry.ts';
import { startBitrateSampler } from './media/bitrate-sampler.ts';
import { startRevocationSync } from './safety/revocation-sync.ts';
import { notRevoked } from './room/admission.ts';
import { TokenVerifier } from './auth/verifier.ts';
import type { RevocationList } from './auth/revocations.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/types.ts';
import { PersistentRevocationList } from './safety/persistent-revocations.ts';
import { consentAndLocation } from './safety/admission-step.ts';
import { startRetention } from './safety/retention.ts';
import type { SafetyRules } from './safety/validate.ts';
import { PanicService } from './safety/panic/service.ts';
import { PanicSocketServer } from './safety/panic/socket.ts';
import { PanicSpool } from './safety/panic/spool.ts';
import { WebhookSender } from './safety/panic/webhooks.ts';
import { join } from 'node:path';
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
  readonly store: Store;
  readonly panic: PanicService;
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
  const store = await openStore(config.store.url, config.dataDir, secrets.recordKeys);
  const revocations = await PersistentRevocationList.load(store);
  const safetyRules: SafetyRules = { ...config.consent, ...config.location };
  const stopRetention = startRetention(store, config.records.retentionYears, log);

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
    forwarding: config.forwarding,
    transport: {
      initialAvailableOutgoingBitrate: config.media.initialAvailableOutgoingBitrate,
      maxIncomingBitrate: config.media.maxIncomingBitrate,
      maxOutgoingBitrate: config.media.maxOutgoingBitrate,
    },
    log,
    metrics,
  });

  metrics.countPausedConsumersWith(() => rooms.pausedConsumers());
  metrics.bitrateSampled(0, 0);
  const stopRevocationSync = startRevocationSync({ revocations, rooms, store, seconds: config.store.revocationSyncSeconds, log });
  const stopBitrates = startBitrateSampler({
    seconds: config.media.bitrateSampleSeconds,
    transports: () => rooms.transports(),
    onSample: (s) => metrics.bitrateSampled(s.inBits, s.outBits),
  });
  const fastify: FastifyInstance = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: 64 * 1024, trustProxy: false });
  installErrorHandlers(fastify);
  const sessions = new Set<SignallingSession>();
  const admission = [notRevoked(revocations), consentAndLocation(store, safetyRules, metrics, log)];
  const services = { config, rooms, revocations, admission, store, safetyRules, metrics, log };
  await fastify.register(signallingPlugin, { services, verifier, sessions });
  await fastify.register(healthRoutes, {
    metrics,
    checks: { workers: () => pool.healthy, accepting: () => !rooms.draining, store: () => store.ping() },
  });
  await fastify.register(adminRoutes, { prefix: '/admin', adminToken: secrets.adminToken, rooms, revocations, store, log });
  await fastify.register(clientRoutes, { dir: opts.clientDir ?? DEFAULT_CLIENT_DIR });

  const panic = new PanicService({
    store: store.incidents,
    spool: new PanicSpool(join(config.dataDir, 'panic-spool.jsonl')),
    tiers: config.safety.tiers,
    webhooks: config.safety.webhooks,
    sender: new WebhookSender({ store: store.incidents, log, metrics, timeoutSeconds: config.safety.webhookTimeoutSeconds, maxBackoffSeconds: config.safety.webhookMaxBackoffSeconds }),
    announceToRoom: config.safety.announceToRoom,
    locate: async (participantId) => {
      try {
        return await store.latestLocation(participantId);
      } catch {
        return undefined;
      }
    },
    log,
    metrics,
  });
  await fastify.ready();
  const panicSockets = new PanicSocketServer({ server: fastify.server, verifier, revocations, rooms, service: panic, log });
  await panic.start(panicSockets);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      rooms.startDraining();
      rooms.closeAll('SERVER_SHUTDOWN');
      for (const s of sessions) s.close(CLOSE_CODES.SERVER_DRAINING, 'SERVER_SHUTDOWN');
      stopRetention();
      stopBitrates();
      stopRevocationSync();
      panic.stop();
      await panicSockets.close();
      await fastify.close();
      await pool.close();
      await store.close();
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

  return { fastify, config, secrets, pool, rooms, revocations, store, panic, metrics, log, drain, close };
}
