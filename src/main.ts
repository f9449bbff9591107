import { loadConfig, ConfigError } from './config/load.ts';
import { buildApp } from './app.ts';
import { mintDeskToken, mintToken } from './auth/mint.ts';
import { baseUrl, issuedFor, pageLink } from './auth/page-links.ts';
import { unconfiguredWarning } from './config/escalation-targets.ts';
import { unreadVariables } from './config/env.ts';
import { createLogger } from './telemetry/logger.ts';
import { CLOSE_BUDGET_MS, type ShutdownReport } from './shutdown.ts';

/** Entry point: config, buildApp, listen, demo links, graceful shutdown on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n(see docs/configuration.md)\n`);
      process.exit(78);
    }
    throw err;
  }
  const log = createLogger(config.log.level);
  // A misspelt variable is not an error (tools and orchestrators set others), but never silent either.
  const unread = unreadVariables(process.env);
  const unreadWarning = unread.length === 0 ? undefined
    : `SFU_* variables that nothing reads were ignored: ${unread.map((u) => u.suggestion ? `${u.name} (did you mean ${u.suggestion}?)` : u.name).join(', ')} (docs/configuration.md, "Settings")`;
  if (unreadWarning) log.warn({ variables: unread.map((u) => u.name) }, unreadWarning);
  let app;
  try {
    app = await buildApp({ config, logger: log });
  } catch (err) {
    // Key and store problems are found while building (secrets, PEM, record keys, store URL).
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n(see docs/configuration.md)\n`);
      process.exit(78);
    }
    throw err;
  }
  // Signal handlers before listening: a SIGTERM that arrives while the port opens still drains.
  let stoppingSince = 0;
  let secondSignal = false;
  // Exit code: 0 after a clean drain and close; 1 when a stage had to be forced, after a second
  // signal, or when the drain failed (docs/operations.md#graceful-drain-sigterm).
  const exit = (report: ShutdownReport) => process.exit(secondSignal || report.forced.length > 0 ? 1 : 0);
  const failed = (err: unknown) => {
    log.error({ err }, 'drain failed');
    process.exit(1);
  };
  const stop = (signal: string) => {
    // The same signal can arrive twice at once (a process-group kill plus a forwarding parent):
    // only a second signal a second or more after the first forces an immediate close.
    if (stoppingSince && Date.now() - stoppingSince < 1000) return;
    if (stoppingSince) {
      if (secondSignal) return;
      secondSignal = true;
      log.warn({ signal }, 'second signal: closing now');
      app.close().then(exit, failed);
      return;
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'draining before shutdown');
    // Every close stage has its own deadline; this is the last resort should anything escape them
    // (and keeps the event loop alive until the exit). Not unref'd on purpose.
    const watchdogMs = config.drain.timeoutSeconds * 1000 + CLOSE_BUDGET_MS + 1000;
    setTimeout(() => {
      log.error({ forced: ['watchdog'], afterMs: watchdogMs }, 'shutdown forced: watchdog (the shutdown did not end in time)');
      process.exit(1);
    }, watchdogMs);
    app.drain().then(exit, failed);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await app.fastify.listen({ host: config.http.host, port: config.http.port });
  const port = (app.fastify.server.address() as { port: number }).port;
  const base = baseUrl(config.http, port);

  const lines = [
    '',
    `Telepractice SFU listening on ${base}`,
    `  health: ${base}/healthz   metrics: ${base}/metrics   signalling: ${base.replace(/^http/, 'ws')}/rtc`,
  ];
  const media = app.mediaAddress;
  const ports = config.media.rtcPort === 0 ? 'ports picked by the OS' : `port ${config.media.rtcPort}${app.pool.size > 1 ? `-${config.media.rtcPort + app.pool.size - 1}` : ''}`;
  const announced = media.announcedIp ?? media.listenIp;
  lines.push(`  media: UDP/TCP ${ports} on ${media.listenIp}, announced to browsers as ${announced}`
    + (media.source === 'host-interface' ? ' (this host\'s first non-loopback address: a development default; production sets media.announcedIp / SFU_ANNOUNCED_IP)' : ''));
  if (media.warning) lines.push(`  WARNING: ${media.warning}`);
  if (unreadWarning) lines.push(`  WARNING: ${unreadWarning}`);
  if (app.unconfiguredTargets.length > 0) lines.push(`  WARNING: ${unconfiguredWarning(app.unconfiguredTargets)}`);
  for (const path of app.secrets.generated) lines.push(`  generated a secret into ${path} (kept for later starts)`);
  // Demo links only in development mode (the secret was generated here, not configured): an
  // operator's own secret never has tokens minted and printed for it.
  if (app.secrets.jwtSecret && !config.jwt.secret && config.mode === 'development') {
    const secret = app.secrets.jwtSecret;
    const room = 'demo';
    const ttlSeconds = 3600;
    const link = (identity: string, role: 'clinician' | 'student') =>
      pageLink(base, mintToken(secret, { room, identity, role, ttlSeconds, ...issuedFor(config.jwt) }), role, config.consent);
    const desk = pageLink(base, mintDeskToken(secret, { identity: 'demo-desk', rooms: ['*'], ttlSeconds, ...issuedFor(config.jwt) }), 'desk', config.consent);
    lines.push(
      '',
      'Demo room "demo" (links valid for one hour; open each in its own tab):',
      `  clinician: ${link('demo-clinician', 'clinician')}`,
      `  student:   ${link('demo-student', 'student')}`,
      'Safety desk (alarms of every room, valid for one hour):',
      `  desk:      ${desk}`,
      '',
      'More links: npm run token -- --room R --identity I --role clinician|student|guardian|observer|interpreter [--ttl S] --link',
      '            npm run token -- --role desk --identity I --rooms \'*\' --link',
    );
  }
  // Printed as plain text on stdout, not as a log record.
  process.stdout.write(`${lines.join('\n')}\n\n`);

}

main().catch((err) => {
  createLogger('error').fatal({ err }, 'failed to start');
  process.exit(1);
});
