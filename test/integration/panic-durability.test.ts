import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { until } from '../helpers/until.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A real local webhook receiver that fails the first `failures` requests with 500. */
async function receiver(failures: number) {
  const ctl = { failures };
  const received: { headers: IncomingMessage['headers']; body: string; status: number }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const status = received.length < ctl.failures ? 500 : 204;
      received.push({ headers: req.headers, body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { ctl, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) };
}

describe('panic durability', () => {
  it('delivers signed webhooks, retrying until 2xx, every attempt persisted', async () => {
    const hook = await receiver(2);
    const secret = 'webhook-secret-0123456789';
    const srv = await startServer({
      safety: {
        tiers: [{ afterSeconds: 0, notify: ['room-clinicians', 'webhook:primary'] }],
        webhooks: [{ name: 'primary', url: hook.url, secret }],
        webhookMaxBackoffSeconds: 0.2,
      },
    });
    try {
      const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint('w-room', 'kid', 'student') });
      await kid.request('join', {});
      const s = await safetyClient(srv.url, srv.mint('w-room', 'kid', 'student'), 'websocket');
      const { data } = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: 'webhook-test-1' });
      await until(() => hook.received.length >= 3, 'three webhook deliveries', 5000);
      expect(hook.received.map((r) => r.status)).toEqual([500, 500, 204]);
      const last = hook.received[2]!;
      const [t, v1] = String(last.headers['x-sfu-signature']).split(',').map((p) => p.split('=')[1]!);
      expect(createHmac('sha256', secret).update(`${t}.${last.body}`).digest('hex')).toBe(v1);
      const body = JSON.parse(last.body);
      expect(body).toMatchObject({ event: 'panic.alert', tier: 0, room: 'w-room', incident: { id: data.incidentId }, participant: { identity: 'kid', role: 'student' } });
      expect(body.location.region).toBe('US-CA');
      expect(body.emergencyContact.phone).toBe('+1 555 0100');
      // The receiver answered before the sender recorded the attempt: wait until all three are stored.
      await until(async () => (await srv.handle.store.incidents.webhookAttempts(data.incidentId)).length >= 3, 'three stored webhook attempts', 5000);
      const attempts = await srv.handle.store.incidents.webhookAttempts(data.incidentId);
      expect(attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 500], [2, 500], [3, 204]]);
      const metrics = await (await fetch(`${srv.url}/metrics`)).text();
      expect(metrics).toMatch(/sfu_webhook_deliveries_total\{result="failed"\} 2/);
      expect(metrics).toMatch(/sfu_panic_raised_total\{kind="safety"\} 1/);
      s.close(); kid.close();
    } finally {
      await srv.close();
      await hook.close();
    }
  });

  it('keeps open incidents across a restart: responders get a replay and escalation timers resume', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-panic-restart-'));
    dirs.push(dataDir);
    const tiers = [{ afterSeconds: 0, notify: ['desk'] }, { afterSeconds: 2, notify: ['desk'] }];
    const first = await startServer({ dataDir, safety: { tiers } });
    const kid = await RtcClient.connect(first.wsUrl, { token: first.mint('r-room', 'kid', 'student') });
    await kid.request('join', {});
    const s = await safetyClient(first.url, first.mint('r-room', 'kid', 'student'), 'polling');
    const { data } = await s.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: 'restart-test-1' });
    s.close(); kid.close();
    await first.handle.close();

    const second = await startServer({ dataDir, safety: { tiers } });
    try {
      const deskClient = await safetyClient(second.url, mintDeskToken(TEST_SECRET, { identity: 'desk-9', rooms: ['*'] }), 'websocket');
      const replay = await deskClient.waitFor('panic:alert', (d) => d.incident.id === data.incidentId);
      expect(replay).toMatchObject({ replay: true, incident: { state: 'open', kind: 'medical' } });
      const escalated = await deskClient.waitFor('panic:escalated', (d) => d.incidentId === data.incidentId, 5000);
      expect(escalated.tier).toBe(1);
      const resolved = await deskClient.send('panic:resolve', { incidentId: data.incidentId, outcome: 'continued', acknowledge: true });
      expect(resolved.data.state).toBe('resolved');
      expect(await second.handle.store.incidents.open()).toEqual([]);
      deskClient.close();
    } finally {
      await second.close();
    }
  });

  it('sends webhooks that never got a 2xx again after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-panic-hook-'));
    dirs.push(dataDir);
    const hook = await receiver(1_000_000);
    const safety = {
      tiers: [{ afterSeconds: 0, notify: ['webhook:primary'] }],
      webhooks: [{ name: 'primary', url: hook.url, secret: 'webhook-secret-0123456789' }],
      webhookMaxBackoffSeconds: 30,
    };
    try {
      const first = await startServer({ dataDir, safety });
      const kid = await RtcClient.connect(first.wsUrl, { token: first.mint('h-room', 'kid', 'student') });
      await kid.request('join', {});
      const s = await safetyClient(first.url, first.mint('h-room', 'kid', 'student'), 'websocket');
      const { data } = await s.send('panic:raise', { kind: 'other', silent: true, clientIncidentId: 'redeliver-test-1' });
      await until(() => hook.received.length >= 1, 'the first (failed) webhook delivery', 5000);
      s.close(); kid.close();
      await first.handle.close();

      hook.ctl.failures = 0;
      const second = await startServer({ dataDir, safety });
      try {
        await until(() => hook.received.some((r) => r.status === 204), 'a successful webhook delivery from the new server', 5000);
        const ok = hook.received.find((r) => r.status === 204)!;
        expect(JSON.parse(ok.body).incident.id).toBe(data.incidentId);
        await until(async () => (await second.handle.store.incidents.webhookAttempts(data.incidentId)).some((a) => a.status === 204), 'the successful attempt to be stored', 5000);
        const attempts = await second.handle.store.incidents.webhookAttempts(data.incidentId);
        expect(attempts.at(-1)).toMatchObject({ status: 204, attempt: attempts.length });
      } finally {
        await second.close();
      }
    } finally {
      await hook.close();
    }
  });
});
