import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';

/**
 * What a desk is sent on a restarted server (docs/safety.md, "Restart"): each open incident is
 * replayed once per connection (`replay: true`), and an escalation tier that comes due while the
 * desk is connected is an alert of its own (tier n, not a replay). The e2e test once counted that
 * escalation alert as a second replay (the restart took longer than the tier's delay under load);
 * here both orders are produced on purpose: a desk connected before the tier is due, one after.
 */
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const ROOM = 'replay-room';
const tiers = (tier1AfterS: number) => [{ afterSeconds: 0, notify: ['desk'] }, { afterSeconds: tier1AfterS, notify: ['desk'] }];
/** After the restart, tier 1 comes due this long after the new server started: the desks connect before (checked). */
const MARGIN_S = 5;
const deskToken = mintDeskToken(TEST_SECRET, { identity: 'desk-r', rooms: ['*'] });

type Alert = { incident: { id: string; tier: number; acknowledgedBy?: string }; tier: number; replay?: boolean; escalation?: unknown[] };

/** The panic:alert payloads a client received, by connection: split at each `panic:replayed`. */
function alertsOf(c: SafetyClient): Alert[] {
  return c.events.filter((e) => e.event === 'panic:alert').map((e) => e.data as Alert);
}

/** Each connection's replay: the alerts with `replay: true` before each `panic:replayed`. */
function replaysByConnection(c: SafetyClient): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  for (const e of c.events) {
    if (e.event === 'panic:alert' && e.data.replay) current.push(e.data.incident.id);
    if (e.event === 'panic:replayed') {
      expect(e.data.count).toBe(current.length);
      out.push(current.sort());
      current = [];
    }
  }
  return out;
}

describe('panic replay to a desk on a restarted server', () => {
  it('replays each open incident once per connection; a tier that comes due meanwhile is its own alert', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-panic-replay-'));
    dirs.push(dataDir);
    let second: TestServer | undefined;
    // Tier 1 out of reach on the first server (however slow the machine), due soon after the restart on the second.
    const first = await startServer({ dataDir, safety: { tiers: tiers(600) } });
    let acked: string;
    let open: string;
    let raisedAt: number;
    try {
      const kid = await RtcClient.connect(first.wsUrl, { token: first.mint(ROOM, 'kid', 'student') });
      await kid.request('join', {});
      const s = await safetyClient(first.url, first.mint(ROOM, 'kid', 'student'), 'websocket');
      const a = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: 'replay-test-a' });
      const b = await s.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: 'replay-test-b' });
      acked = a.data.incidentId;
      open = b.data.incidentId;
      raisedAt = Date.parse(b.data.receivedAt);
      const desk0 = await safetyClient(first.url, deskToken, 'websocket');
      expect((await desk0.send('panic:ack', { incidentId: acked })).ok).toBe(true);
      desk0.close(); s.close(); kid.close();
    } finally {
      await first.handle.close();
    }

    const tier1AfterS = Math.ceil((Date.now() - raisedAt) / 1000) + MARGIN_S;
    second = await startServer({ dataDir, safety: { tiers: tiers(tier1AfterS) } });
    try {
      // Connected before tier 1 of the open incident is due, over both transports.
      const early = [await safetyClient(second.url, deskToken, 'websocket'), await safetyClient(second.url, deskToken, 'polling')];
      expect(Date.now(), 'the desks connected before tier 1 was due (the start took too long for this ordering)').toBeLessThan(raisedAt + tier1AfterS * 1000);
      for (const d of early) await d.waitFor('panic:replayed');
      // The tier comes due while they are connected: its own alert, after the replay.
      for (const d of early) await d.waitFor('panic:alert', (x: Alert) => x.incident.id === open && x.tier === 1 && !x.replay, (MARGIN_S + 5) * 1000);
      for (const d of early) await d.waitFor('panic:escalated', (x: { incidentId: string }) => x.incidentId === open);

      for (const d of early) {
        expect(replaysByConnection(d)).toEqual([[acked, open].sort()]);
        const alerts = alertsOf(d);
        expect(alerts.filter((x) => x.replay).map((x) => [x.incident.id, x.tier])).toEqual(expect.arrayContaining([[acked, 0], [open, 0]]));
        expect(alerts.filter((x) => !x.replay).map((x) => [x.incident.id, x.tier])).toEqual([[open, 1]]);
        expect(alerts.find((x) => x.incident.id === acked)!.incident.acknowledgedBy).toBe('desk-r');
      }

      // Connected after the tier ran: one alert per incident, the replay, at the tier reached.
      const late = await safetyClient(second.url, deskToken, 'polling');
      await late.waitFor('panic:replayed');
      expect(replaysByConnection(late)).toEqual([[acked, open].sort()]);
      expect(alertsOf(late).map((x) => [x.incident.id, x.tier, x.replay])).toEqual(expect.arrayContaining([[acked, 0, true], [open, 1, true]]));
      expect(alertsOf(late)).toHaveLength(2);
      expect(alertsOf(late).find((x) => x.incident.id === open)!.escalation).toEqual([{ target: 'desk', status: 'reached', connections: 2 }]);

      // A reconnection is a new connection: replayed again, once (the pages merge by incident id).
      const ws = early[0]!;
      ws.socket.disconnect();
      ws.socket.connect();
      await until(() => replaysByConnection(ws).length === 2, 'the second replay on the reconnected socket');
      expect(replaysByConnection(ws)).toEqual([[acked, open].sort(), [acked, open].sort()]);

      for (const d of [...early, late]) d.close();
    } finally {
      await second.close();
    }
  }, 30_000);
});
