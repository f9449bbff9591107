import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config/load.ts';
import { resolveSecrets, type Secrets } from './config/secrets.ts';
import { unconfiguredTargets, unconfiguredWarning, type UnconfiguredTarget } from './config/escalation-targets.ts';
import { resolveMediaAddress, type MediaAddress } from './media/address.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { Metrics } from './telemetry/metrics.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { RoomRegistry } from './room/registry.ts';
import { startBitrateSampler } from './media/bitrate-sampler.ts';
import { startRevocationSync } from './safety/revocation-sync.ts';
import { enforceRevocation } from './safety/revocation-enforcer.ts';
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
import { LatestLocations, locator, rememberLocations } from './safety/panic/locations.ts';
import { AlertDelivery } from './safety/panic/delivery.ts';
import { WebhookSender } from './safety/panic/webhooks.ts';
import { join } from 'node:path';
import { signallingPlugin } from './signalling/plugin.ts';
import type { SignallingSession } from './signalling/session.ts';
import { CLOSE_CODES } from './domain/close-codes.ts';
import { installErrorHandlers } from './http/errors.ts';
import { installValidator } from './http/validator.ts';
import { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH } from './http/early-errors.ts';
import { healthRoutes, type CheckResult } from './http/health.ts';
import { SfuError } from './shared/errors.ts';
import { adminRoutes } from './http/admin.ts';
import { clientRoutes } from './http/static.ts';
import { linkCheckRoutes } from './http/link-check.ts';
import { startCluster, type ClusterNode } from './cluster/start.ts';
import { createAdapterClients, resolveNodeId } from './cluster/redis.ts';
import { createAdapter } from '@socket.io/redis-adapter';
import { localPlacement, type RoomPlacement } from './cluster/room-placement.ts';
import { localRoster, type SessionRoster } from './cluster/session-roster.ts';
import { ResumeTokens } from './auth/resume-token.ts';
import { CLOSE_DEADLINES_MS, ServerConnections, ShutdownStages, WORKER_EXIT_MS, type ShutdownReport } from './shutdown.ts';

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
  /** Where media listens and what its ICE candidates name (the development default applied: src/media/address.ts). */
  readonly mediaAddress: MediaAddress;
  readonly pool: WorkerPool;
  readonly rooms: RoomRegistry;
  readonly revocations: RevocationList;
  readonly store: Store;
  readonly panic: PanicService;
  /** Tier targets naming no configured webhook (only with the built-in default tiers; warned at start). */
  readonly unconfiguredTargets: readonly UnconfiguredTarget[];
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * Refuses new joins, tells clients, waits for rooms to empty (up to the drain timeout), then
   * closes. Resolves with the close's report.
   */
  drain(): Promise<ShutdownReport>;
  /**
   * Closes everything at once, each stage within its deadline (src/shutdown.ts); always ends.
   * Resolves with which stages had to be forced. Idempotent: later calls get the first call's promise.
   */
  close(): Promise<ShutdownReport>;
}

const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../dist/client', import.meta.url));

/** The audit trail's signed head checkpoint at start, for the log (positions and hashes only; docs/records.md). */
async function logAuditHead(store: Store, log: Logger): Promise<void> {
  try {
    const status = await store.auditHead();
    const cp = status.checkpoint;
    const auditHead = cp ? { seq: cp.seq, hash: cp.hash, at: cp.at, keyId: cp.keyId, mac: cp.mac } : { seq: 0 };
    if (status.ok) log.info({ auditHead }, 'audit head');
    else log.error({ auditHead, brokenAt: status.brokenAt, firstMissing: status.firstMissing, reason: status.reason }, 'audit trail does not reach its signed head checkpoint');
  } catch (err) {
    log.warn({ err }, 'audit head not read at start');
  }
}

/** The store's readiness: its write probe (Store.ping), with the store's reason when it fails (locked, full, hung, unreachable). */
function storeReadiness(store: Store): Promise<CheckResult> {
  return store.ping().then(
    (ok) => ok,
    (err: unknown) => ({ ok: false, reason: err instanceof SfuError ? err.message : 'the store did not take the write probe' }),
  );
}

/** The composition root: the one place that picks implementations and wires the layers. */
export async function buildApp(opts: BuildOptions): Promise<AppHandle> {
  const { config } = opts;
  const log = opts.logger ?? createLogger(config.log.level);
  const secrets = resolveSecrets(config);
  const metrics = new Metrics();
  // Only the built-in default tiers get here with targets nobody configured (tiers set by the
  // operator are refused by loadConfig): one loud line, a gauge and a /readyz detail.
  const unconfigured = unconfiguredTargets(config.safety);
  metrics.tierTargetsUnconfigured(unconfigured.length);
  if (unconfigured.length > 0) log.warn({ unconfiguredTargets: unconfigured }, unconfiguredWarning(unconfigured));
  const verifier = new TokenVerifier({
    key: secrets.jwtKey,
    algorithms: secrets.jwtAlgorithms,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
  });
  // Locations committed on this node are remembered, so that a panic alert never waits on the store for one.
  const locations = new LatestLocations();
  const store = rememberLocations(await openStore(config.store.url, config.dataDir, secrets.recordKeys, {
    callTimeoutMs: config.store.callTimeoutMs, sqliteBusyTimeoutMs: config.store.sqliteBusyTimeoutMs,
  }), locations);
  await logAuditHead(store, log);
  metrics.auditHeadWith(() => store.auditHeadPosition());
  metrics.storeWritableWith(() => store.ping());
  const revocations = await PersistentRevocationList.load(store);
  const safetyRules: SafetyRules = { ...config.consent, ...config.location };
  const stopRetention = startRetention(store, config.records.retentionYears, log);

  const mediaAddress = resolveMediaAddress(config.media.listenIp, config.media.announcedIp);
  if (mediaAddress.warning) log.warn({ ...mediaAddress }, mediaAddress.warning);
  const pool = await WorkerPool.create({
    size: config.media.workers || availableParallelism(),
    logLevel: config.media.workerLogLevel,
    listenIp: mediaAddress.listenIp,
    announcedIp: mediaAddress.announcedIp,
    basePort: config.media.rtcPort,
  }, log, metrics);

  const rooms = new RoomRegistry({
    pool,
    maxParticipants: config.rooms.maxParticipants,
    stepTimeoutMs: config.rooms.stepTimeoutSeconds * 1000,
    e2eeMode: config.e2ee.mode,
    forwarding: config.forwarding,
    transport: {
      initialAvailableOutgoingBitrate: config.media.initialAvailableOutgoingBitrate,
      maxIncomingBitrate: config.media.maxIncomingBitrate,
      maxOutgoingBitrate: config.media.maxOutgoingBitrate,
      frameRateFirst: config.media.frameRateFirst,
    },
    log,
    metrics,
  });

  metrics.countPausedConsumersWith(() => rooms.pausedConsumers());
  metrics.bitrateSampled(0, 0);
  const stopBitrates = startBitrateSampler({
    seconds: config.media.bitrateSampleSeconds,
    transports: () => rooms.transports(),
    onSample: (s) => metrics.bitrateSampled(s.inBits, s.outBits),
  });
  const fastify: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger, bodyLimit: 64 * 1024,
    // Room ids in admin paths may be 128 characters (fastify's default cap is 100); the route's schema checks them.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    // Behind a reverse proxy listed in http.trustProxy, request.ip (recorded with each admission) is
    // the client's address from X-Forwarded-For; otherwise the peer's address (docs/operations.md).
    trustProxy: config.http.trustProxy.length > 0 ? [...config.http.trustProxy] : false,
    // Idle sockets, slow request senders and idle keep-alive connections are cut (0 turns one off).
    // Upgraded sockets (/rtc, socket.io) leave the HTTP server's timeouts: their liveness is ping/pong.
    connectionTimeout: config.http.connectionTimeoutSeconds * 1000,
    requestTimeout: config.http.requestTimeoutSeconds * 1000,
    // Node checks request deadlines only every connectionsCheckingInterval (30 s by default), so a
    // slow sender would get its 408 up to 30 s late: check at least once a second.
    http: { connectionsCheckingInterval: config.http.requestTimeoutSeconds > 0 ? Math.min(1000, Math.max(100, config.http.requestTimeoutSeconds * 500)) : 30_000 },
    keepAliveTimeout: config.http.keepAliveTimeoutSeconds * 1000,
  });
  installErrorHandlers(fastify);
  // Route schemas checked by TypeBox, strictly (no coercion, no dropped fields): http/validator.ts.
  installValidator(fastify);
  const sessions = new Set<SignallingSession>();
  const admission = [notRevoked(revocations), consentAndLocation(store, safetyRules, metrics, log)];
  // Set once the cluster has started (below); read by /readyz's details and by placement.
  let cluster: ClusterNode | undefined;
  // Without Redis every room is hosted here; with it, the cluster decides (docs/scaling.md).
  const placement: RoomPlacement = config.cluster.redisUrl
    ? { place: (room) => (cluster ? cluster.placement.place(room) : localPlacement.place(room)) }
    : localPlacement;
  const roster: SessionRoster = config.cluster.redisUrl
    ? { claim: (room, session, from) => (cluster ? cluster.roster.claim(room, session, from) : localRoster.claim(room, session, from)) }
    : localRoster;
  const resumeTokens = new ResumeTokens(secrets.recordKeys, config.cluster.redisUrl ? resolveNodeId(config.cluster.nodeId) : '');
  const services = { config, rooms, revocations, admission, store, safetyRules, metrics, log, placement, resumeTokens, roster };
  await fastify.register(signallingPlugin, { services, verifier, sessions });
  await fastify.register(healthRoutes, {
    metrics,
    checks: { workers: () => pool.healthy, accepting: () => !rooms.draining, store: () => storeReadiness(store), panic: () => panic.readiness() },
    // Redis never makes a node unready: rooms, alarms and revocations go on without it (docs/operations.md).
    details: {
      ...(config.cluster.redisUrl ? { redis: () => cluster?.readiness() } : {}),
      ...(unconfigured.length > 0 ? { escalation: () => ({ unconfiguredTargets: unconfigured }) } : {}),
    },
  });
  await fastify.register(adminRoutes, { prefix: '/admin', adminToken: secrets.adminToken, rooms, revocations, store, log });
  await fastify.register(linkCheckRoutes, { verifier, revocations, rules: safetyRules, rateLimit: config.http.linkCheckRateLimit, metrics, e2eeMode: config.e2ee.mode });
  await fastify.register(clientRoutes, { dir: opts.clientDir ?? DEFAULT_CLIENT_DIR });

  const panic = new PanicService({
    store: store.incidents,
    spool: new PanicSpool(join(config.dataDir, 'panic-spool.jsonl'), { onBadLine: (file) => log.error({ file }, 'unreadable panic spool line skipped') }),
    tiers: config.safety.tiers,
    webhooks: config.safety.webhooks,
    sender: new WebhookSender({ store: store.incidents, log, metrics, timeoutSeconds: config.safety.webhookTimeoutSeconds, maxBackoffSeconds: config.safety.webhookMaxBackoffSeconds }),
    announceToRoom: config.safety.announceToRoom,
    maxOpenPerParticipant: config.safety.maxOpenIncidentsPerParticipant,
    locate: locator({ rooms, memory: locations, store, deadlineMs: config.safety.storeDeadlineMs, log }),
    storeDeadlineMs: config.safety.storeDeadlineMs,
    log,
    metrics,
  });
  await fastify.ready();
  // With Redis, /safety broadcasts (alerts, updates) reach the sockets of every node through
  // socket.io's Redis adapter; the local delivery never waits on it (docs/scaling.md, "Alarms on every node").
  const c = config.cluster;
  const adapterClients = c.redisUrl
    ? createAdapterClients({ url: c.redisUrl, nodeId: resolveNodeId(c.nodeId), callTimeoutMs: c.redisCallTimeoutMs, connectTimeoutMs: c.redisConnectTimeoutMs, log })
    : undefined;
  const panicSockets = new PanicSocketServer({
    server: fastify.server, verifier, revocations, rooms, service: panic, log, limits: config.safety.socket, metrics,
    ...(adapterClients ? { adapter: createAdapter(adapterClients.pub, adapterClients.sub, { key: `${c.redisKeyPrefix}socket.io` }) } : {}),
  });
  // A revocation (an admin kick here, or one learned from the store) bites at once on this node.
  revocations.onRevoked((r, actor) => void enforceRevocation({ rooms, sessions, sessionCloseCode: CLOSE_CODES.FORBIDDEN, safety: panicSockets, store, log }, r, actor));
  const stopRevocationSync = startRevocationSync({ revocations, seconds: config.store.revocationSyncSeconds, log, metrics });
  // With Redis configured, revocations also travel over pub/sub (after the enforcer above ran); the store read stays the backstop.
  cluster = startCluster({
    config: config.cluster, reconnectGraceMs: config.signalling.reconnectGraceSeconds * 1000, revocations, rooms, pool, log, metrics,
    // Alarms other nodes raised while Redis was down reach this node's desks and clinicians now, not at their next reconnection.
    onRedisBack: () => void panicSockets.catchUp(),
  });
  // Acks, cancels and resolves of incidents another node holds are sent to it (1 s, then a coded retryable error).
  if (cluster) panicSockets.useRemote(cluster.commands, { timeoutMs: 1000 });
  // Each open incident's escalation is owned by the node holding its lease in Redis; without Redis, this node owns all it holds.
  if (cluster) panic.useOwnership(cluster.escalation);
  // The raiser is answered once the alert has left for every responder connection (bounded).
  await panic.start(new AlertDelivery(panicSockets.io).wrap(panicSockets));
  metrics.countUnacknowledgedWith(() => panic.unacknowledged());

  // Every TCP connection of the HTTP server, so that the close can end each one (after socket.io,
  // which wraps the server's request listeners).
  const connections = new ServerConnections(fastify.server);
  let closing: Promise<ShutdownReport> | undefined;
  /** Each stage within its deadline (CLOSE_DEADLINES_MS, docs/operations.md); always ends. */
  const close = () => {
    closing ??= (async () => {
      const stages = new ShutdownStages(log);
      // From now on upgrades (/rtc and socket.io) are answered 503 and their sockets destroyed, and
      // socket.io refuses new long-polling handshakes.
      stages.step('refuse', () => {
        connections.refuseUpgrades();
        panicSockets.io.engine.opts.allowRequest = (_req, answer) => answer('SERVER_DRAINING', false);
      });
      stages.step('rooms', () => {
        rooms.startDraining();
        rooms.closeAll('SERVER_SHUTDOWN');
      });
      stages.step('timers', () => {
        stopRetention();
        stopBitrates();
        stopRevocationSync();
        cluster?.close();
        adapterClients?.close();
        panic.stop();
      });
      let unanswered = 0;
      await stages.run('connections', CLOSE_DEADLINES_MS.connections, async () => {
        for (const s of sessions) s.close(CLOSE_CODES.SERVER_DRAINING, 'SERVER_SHUTDOWN');
        await panicSockets.close();
        await connections.upgradedClosed();
      }, {
        // Clients that do not answer the close in time are cut in the http stage: late clients
        // (their network may be gone) are not a server fault, so this does not count as forced.
        deadlineForces: false,
        onDeadline: () => { unanswered = connections.counts.upgraded; },
      });
      await stages.run('http', CLOSE_DEADLINES_MS.http, async () => {
        connections.startClosing();
        await fastify.close();
      }, { onDeadline: () => connections.destroyAll() });
      await Promise.all([
        stages.run('workers', CLOSE_DEADLINES_MS.workers, async () => {
          await pool.close(WORKER_EXIT_MS);
          return pool.killedAtClose > 0 ? 'forced' : undefined;
        }),
        stages.run('store', CLOSE_DEADLINES_MS.store, () => store.close()),
      ]);
      const report = stages.report();
      if (report.forced.length > 0) {
        log.error({ forced: report.forced, stageMs: report.stageMs }, `shutdown forced: ${report.forced.join(', ')} (deadline missed or failed)`);
      } else {
        log.info({ stageMs: report.stageMs, unansweredCloses: unanswered }, 'shutdown complete');
      }
      return report;
    })();
    return closing;
  };

  const drain = async () => {
    const timeoutMs = config.drain.timeoutSeconds * 1000;
    rooms.startDraining();
    log.info({ rooms: rooms.rooms.length, timeoutSeconds: config.drain.timeoutSeconds }, 'draining');
    for (const s of sessions) s.notify('serverDraining', { deadlineSeconds: config.drain.timeoutSeconds });
    const deadline = Date.now() + timeoutMs;
    // Ends early when the rooms are empty or a close has begun (a second signal).
    while (rooms.rooms.length > 0 && !closing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!closing) rooms.closeAll('SERVER_DRAINING');
    return close();
  };

  return { fastify, config, secrets, mediaAddress, pool, rooms, revocations, store, panic, unconfiguredTargets: unconfigured, metrics, log, drain, close };
}
