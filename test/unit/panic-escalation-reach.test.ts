import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PanicService, type Alert, type PanicFanout, type Tier } from '../../src/safety/panic/service.ts';
import { PanicSpool } from '../../src/safety/panic/spool.ts';
import { WebhookSender } from '../../src/safety/panic/webhooks.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { FakeIncidentStore } from '../helpers/fake-incident-store.ts';
import type { TargetReach } from '../../src/domain/escalation-reach.ts';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const TIERS: Tier[] = [
  { afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
  { afterSeconds: 15, notify: ['webhook:primary'] },
  { afterSeconds: 60, notify: ['webhook:secondary', 'desk', 'room-clinicians'] },
];

/** Clinicians and desks connected as set; every update kept with its payload. */
class CountingFanout implements PanicFanout {
  clinicians = 0;
  desks = 0;
  readonly updates: { event: string; payload: Record<string, unknown> }[] = [];
  alertClinicians(_room: string, _a: Alert) { return this.clinicians; }
  alertDesks(_room: string, _a: Alert) { return this.desks; }
  announceToRoom() {}
  update(_room: string, event: string, payload: object) { this.updates.push({ event, payload: payload as Record<string, unknown> }); }
}

let dir: string;
let service: PanicService | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  dir = mkdtempSync(join(tmpdir(), 'sfu-reach-unit-'));
});
afterEach(() => {
  service?.stop();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe('panic:escalated says what each target of the tier became (fake store, fake timers)', () => {
  it('no webhook configured and nobody connected: every tier says it reached nobody; a connected desk is reached', async () => {
    const store = new FakeIncidentStore();
    const log = createLogger('silent');
    const metrics = new Metrics({ defaultMetrics: false });
    service = new PanicService({
      store, spool: new PanicSpool(join(dir, 'spool.jsonl')), tiers: TIERS, webhooks: [], announceToRoom: false, maxOpenPerParticipant: 3,
      sender: new WebhookSender({ store, log, metrics, timeoutSeconds: 1, maxBackoffSeconds: 1 }),
      locate: async () => undefined, storeDeadlineMs: 250, retryMs: 1000, startDeadlineMs: 2000, log, metrics,
    });
    const fanout = new CountingFanout();
    await service.start(fanout);
    const r = await service.raise({ room: 'room-1', participantId: 'pid-kid', identity: 'kid', role: 'student' }, { kind: 'medical', silent: false, clientIncidentId: 'reach-test-1' });

    await vi.advanceTimersByTimeAsync(15_000);
    const escalated = () => fanout.updates.filter((u) => u.event === 'panic:escalated').map((u) => u.payload);
    expect(escalated()).toEqual([{
      incidentId: r.incidentId, tier: 1, notified: ['webhook:primary'],
      targets: [{ target: 'webhook:primary', status: 'not-configured' }] satisfies TargetReach[],
    }]);

    fanout.desks = 2;
    await vi.advanceTimersByTimeAsync(45_000);
    expect(escalated()[1]).toEqual({
      incidentId: r.incidentId, tier: 2, notified: ['webhook:secondary', 'desk', 'room-clinicians'],
      targets: [
        { target: 'webhook:secondary', status: 'not-configured' },
        { target: 'desk', status: 'reached', connections: 2 },
        { target: 'room-clinicians', status: 'no-connection', connections: 0 },
      ],
    });
    const text = await metrics.render();
    expect(text).toMatch(/^sfu_panic_escalation_targets_total\{status="not-configured"\} 2$/m);
    expect(text).toMatch(/^sfu_panic_escalation_targets_total\{status="reached"\} 1$/m);
    expect(text).toMatch(/^sfu_panic_escalation_targets_total\{status="no-connection"\} 1$/m);
  });
});
