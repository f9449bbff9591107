import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { PanicService, type Alert, type PanicFanout } from '../../src/safety/panic/service.ts';
import { PanicSpool } from '../../src/safety/panic/spool.ts';
import { WebhookSender } from '../../src/safety/panic/webhooks.ts';
import type { IncidentStore } from '../../src/domain/incident.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { KEY_A } from '../store/store-suite.ts';
import { until } from '../helpers/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'sfu-spool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real SQLite incident store behind a switch that makes every call fail (a store outage). */
class SwitchableStore implements IncidentStore {
  down = false;
  readonly real: IncidentStore;
  constructor(real: IncidentStore) { this.real = real; }
  #gate() { if (this.down) throw new Error('store down'); }
  async raise(...a: Parameters<IncidentStore['raise']>) { this.#gate(); return this.real.raise(...a); }
  async append(...a: Parameters<IncidentStore['append']>) { this.#gate(); return this.real.append(...a); }
  async get(id: string) { this.#gate(); return this.real.get(id); }
  async events(id: string) { this.#gate(); return this.real.events(id); }
  async open() { this.#gate(); return this.real.open(); }
  async recordWebhookAttempt(...a: Parameters<IncidentStore['recordWebhookAttempt']>) { this.#gate(); return this.real.recordWebhookAttempt(...a); }
  async webhookAttempts(id: string) { this.#gate(); return this.real.webhookAttempts(id); }
}

/** Records what would reach responders. */
class RecordingFanout implements PanicFanout {
  readonly alerts: Alert[] = [];
  readonly updates: string[] = [];
  alertClinicians(_room: string, a: Alert) { this.alerts.push(a); return 1; }
  alertDesks() { return 0; }
  announceToRoom() {}
  update(_room: string, event: string, _payload: object, _raiser: string) { this.updates.push(event); }
}

describe('panic channel with the store down', () => {
  it('still fans out, spools to a local file, and writes everything to the store when it recovers', async () => {
    const sqlite = new SqliteStore(join(dir, 'records.db'), new FieldCipher([KEY_A]));
    await sqlite.migrate();
    const store = new SwitchableStore(sqlite.incidents);
    const log = createLogger('silent');
    const metrics = new Metrics({ defaultMetrics: false });
    const spoolFile = join(dir, 'panic-spool.jsonl');
    const service = new PanicService({
      store, spool: new PanicSpool(spoolFile), tiers: [{ afterSeconds: 0, notify: ['room-clinicians'] }], webhooks: [],
      sender: new WebhookSender({ store, log, metrics, timeoutSeconds: 1, maxBackoffSeconds: 1 }),
      announceToRoom: false, maxOpenPerParticipant: 3, locate: async () => undefined, log, metrics,
    });
    const fanout = new RecordingFanout();
    await service.start(fanout);

    store.down = true;
    const raiser = { room: 'room-s', participantId: 'pid-1', identity: 'kid', role: 'student' as const };
    const res = await service.raise(raiser, { kind: 'safety', silent: true, clientIncidentId: 'spool-key-1' });
    // Tier 0 fans out on a timer right after the raise is answered.
    await until(() => fanout.alerts.length > 0, 'the tier 0 alert', 5000);
    expect(fanout.alerts.map((a) => a.incident.id)).toEqual([res.incidentId]);
    expect(existsSync(spoolFile)).toBe(true);
    await service.acknowledge(res.incidentId, { identity: 'doc', role: 'clinician' });
    expect(fanout.updates).toEqual(['panic:acknowledged']);

    store.down = false;
    // The flush renames the spool to `.flushing` and works through it: done when neither is left.
    await until(() => !existsSync(spoolFile) && !existsSync(`${spoolFile}.flushing`), 'the spool to be flushed to the recovered store', 5000);
    const stored = await sqlite.incidents.get(res.incidentId);
    expect(stored).toMatchObject({ id: res.incidentId, kind: 'safety', acknowledgedBy: 'doc', state: 'open' });
    expect((await sqlite.verifyAudit()).ok).toBe(true);
    service.stop();
    await sqlite.close();
  });
});
