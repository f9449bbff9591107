import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../telemetry/metrics.ts';

export interface HealthOptions {
  readonly metrics: Metrics;
  /** Readiness checks by name; all must pass for /readyz to answer 200. */
  readonly checks: Record<string, () => boolean | Promise<boolean>>;
}

/** /healthz (the process answers), /readyz (every check passes: workers alive, not draining), /metrics. */
export async function healthRoutes(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(opts.checks)) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = Object.values(results).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks: results });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(opts.metrics.contentType);
    return opts.metrics.render();
  });
}
