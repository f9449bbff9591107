import { createHmac } from 'node:crypto';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { IncidentStore } from '../../domain/incident.ts';
import { attempt } from '../../shared/deadline.ts';

export interface WebhookConfig {
  readonly name: string;
  readonly url: string;
  readonly secret: string;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (docs/safety.md shows how to verify). */
export function signature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The key a receiver deduplicates on: one per incident, tier and webhook, the same on every attempt
 * and from every node (`Idempotency-Key` header and `idempotencyKey` in the signed body). Delivery is
 * at least once (docs/safety.md, "Webhooks").
 */
export function idempotencyKey(incidentId: string, tier: number, webhook: string): string {
  return `${incidentId}:tier-${tier}:${webhook}`;
}

/**
 * Delivers signed webhook POSTs, retrying with exponential backoff (1 s doubling, capped) until a
 * 2xx or until `stop()`; every attempt is recorded in the incident store.
 */
export class WebhookSender {
  readonly #store: IncidentStore;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #timeoutMs: number;
  readonly #maxBackoffMs: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(opts: { store: IncidentStore; log: Logger; metrics: Metrics; timeoutSeconds: number; maxBackoffSeconds: number }) {
    this.#store = opts.store;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#timeoutMs = opts.timeoutSeconds * 1000;
    this.#maxBackoffMs = opts.maxBackoffSeconds * 1000;
  }

  /** Starts delivery in the background; resolves when it succeeded (or the sender stopped). */
  deliver(hook: WebhookConfig, incidentId: string, tier: number, payload: object, attempt = 1): Promise<void> {
    const key = idempotencyKey(incidentId, tier, hook.name);
    return new Promise((resolve) => void this.#attempt(hook, incidentId, tier, key, JSON.stringify({ ...payload, idempotencyKey: key }), attempt, resolve));
  }

  async #attempt(hook: WebhookConfig, incidentId: string, tier: number, key: string, body: string, attemptNo: number, done: () => void): Promise<void> {
    if (this.#stopped) return done();
    const ts = Math.floor(Date.now() / 1000);
    let status: number | null = null;
    let error: string | undefined;
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sfu-signature': signature(hook.secret, ts, body), 'x-sfu-webhook': hook.name, 'idempotency-key': key },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message.slice(0, 200);
    }
    const ok = status !== null && status >= 200 && status < 300;
    this.#metrics.webhookDelivery(ok ? 'delivered' : 'failed');
    // Recorded in the background: a slow or hung store never holds up the next attempt (the
    // record is evidence, not a condition of delivery; the store call has its own deadline).
    void attempt(() => this.#store.recordWebhookAttempt({ incidentId, webhook: hook.name, tier, attempt: attemptNo, at: new Date().toISOString(), status, error }))
      .catch((err: unknown) => this.#log.error({ err, incidentId }, 'could not record a webhook attempt'));
    if (ok) return done();
    const delay = Math.min(this.#maxBackoffMs, 1000 * 2 ** (attemptNo - 1));
    this.#log.warn({ webhook: hook.name, incidentId, attempt: attemptNo, status, error, retryInMs: delay }, 'webhook delivery failed');
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void this.#attempt(hook, incidentId, tier, key, body, attemptNo + 1, done);
    }, delay);
    this.#timers.add(t);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
