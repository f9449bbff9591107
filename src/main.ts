import { loadConfig, ConfigError } from './config/load.ts';
import { buildApp } from './app.ts';
import { mintToken } from './auth/mint.ts';
import { createLogger } from './telemetry/logger.ts';

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
  await app.fastify.listen({ host: config.http.host, port: config.http.port });
  const port = (app.fastify.server.address() as { port: number }).port;
  const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const base = config.http.publicUrl || `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;

  const lines = [
    '',
    `Telepractice SFU listening on ${base}`,
    `  health: ${base}/healthz   metrics: ${base}/metrics   signalling: ${base.replace(/^http/, 'ws')}/rtc`,
  ];
  for (const path of app.secrets.generated) lines.push(`  generated a secret into ${path} (kept for later starts)`);
  // Demo links only in development mode (the secret was generated here, not configured): an
  // operator's own secret never has tokens minted and printed for it.
  if (app.secrets.jwtSecret && !config.jwt.secret) {
    const room = 'demo';
    const link = (identity: string, role: 'clinician' | 'student') =>
      `${base}/#token=${mintToken(app.secrets.jwtSecret!, {
        room, identity, role, ttlSeconds: 3600,
        ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
        ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
      })}&policy=${encodeURIComponent(config.consent.policyVersions[0]!)}`;
    lines.push(
      '',
      'Demo room "demo" (links valid for one hour; open each in its own tab):',
      `  clinician: ${link('demo-clinician', 'clinician')}`,
      `  student:   ${link('demo-student', 'student')}`,
      '',
      'More tokens: npm run token -- --room R --identity I --role clinician|student|guardian|observer|interpreter [--ttl S]',
    );
  }
  // Printed as plain text on stdout, not as a log record.
  process.stdout.write(`${lines.join('\n')}\n\n`);

  let stoppingSince = 0;
  const stop = (signal: string) => {
    // The same signal can arrive twice at once (a process-group kill plus a forwarding parent):
    // only a second signal a second or more after the first forces an immediate close.
    if (stoppingSince && Date.now() - stoppingSince < 1000) return;
    if (stoppingSince) {
      log.warn({ signal }, 'second signal: closing now');
      void app.close().then(() => process.exit(1));
      return;
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'draining before shutdown');
    app.drain().then(() => process.exit(0), (err) => {
      log.error({ err }, 'drain failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  createLogger('error').fatal({ err }, 'failed to start');
  process.exit(1);
});
