import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../telemetry/metrics.ts';

export interface HealthOptions {
  readonly metrics: Metrics;
  /** Readiness checks by name; all must pass for /readyz to answer 200. A check may say why it fails. */
  readonly checks: Record<string, () => CheckResult | Promise<CheckResult>>;
  /** Shown in /readyz's `details` by name, without deciding readiness (e.g. the Redis view: docs/operations.md). */
  readonly details?: Record<string, () => unknown>;
}

/** A check's answer: pass or fail, or that with a reason (shown in `reasons` when it fails). */
export type CheckResult = boolean | { readonly ok: boolean; readonly reason?: string | undefined };

/** /healthz (the process answers), /readyz (every check passes: workers alive, not draining), /metrics. */
export async function healthRoutes(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, boolean> = {};
    const reasons: Record<string, string> = {};
    for (const [name, check] of Object.entries(opts.checks)) {
      try {
        const r = await check();
        results[name] = typeof r === 'boolean' ? r : r.ok;
        if (typeof r !== 'boolean' && !r.ok && r.reason) reasons[name] = r.reason;
      } catch {
        results[name] = false;
      }
    }
    const ready = Object.values(results).every(Boolean);
    const details = Object.fromEntries(Object.entries(opts.details ?? {}).map(([name, read]) => [name, read()]));
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not-ready', checks: results, ...(Object.keys(reasons).length > 0 ? { reasons } : {}),
      ...(Object.keys(details).length > 0 ? { details } : {}),
    });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(opts.metrics.contentType);
    return opts.metrics.render();
  });
}
