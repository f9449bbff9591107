import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startServer, TEST_SECRET } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts';
import { until } from '../helpers/until.ts';

/**
 * Escalation tiers that name no configured target (issue #15, item 4): the server runs the
 * built-in default tiers with a loud warning, and its `panic:escalated` says that nobody was
 * reached instead of claiming an escalation.
 */
describe('escalation to targets nobody configured (real server, real sockets)', () => {
  it('the default tiers without webhooks: one warning line, a gauge and a /readyz detail; panic:escalated says nobody was reached', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-reach-'));
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (c: Buffer) => { logText += c.toString(); });
    const loaded = loadConfig({ env: {}, overrides: {
      dataDir, log: { level: 'warn' }, jwt: { secret: TEST_SECRET },
      media: { workers: 1, rtcPort: 0, listenIp: '127.0.0.1', announcedIp: '' },
    } });
    // The built-in default tiers exactly (webhook:primary, webhook:secondary, no webhook
    // configured), with their delays cut from 15 s and 60 s to 1 s and 2 s.
    expect(loaded.safety.webhooks).toEqual([]);
    const tiers = loaded.safety.tiers.map((t, i) => ({ ...t, afterSeconds: i }));
    expect(tiers.map((t) => t.notify)).toEqual([['room-clinicians', 'desk'], ['webhook:primary'], ['webhook:secondary']]);
    const app = await buildApp({ config: { ...loaded, safety: { ...loaded.safety, tiers } }, logger: createLogger('warn', logs) });
    try {
      const url = (await app.fastify.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
      const warnings = logText.split('\n').filter((l) => l.includes('escalation tiers name targets that are not configured'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!).msg).toContain('tier 1: webhook:primary; tier 2: webhook:secondary');
      const ready = await (await fetch(`${url}/readyz`)).json() as { status: string; details: unknown };
      expect(ready.status).toBe('ready');
      expect(ready.details).toEqual({ escalation: { unconfiguredTargets: [{ tier: 1, target: 'webhook:primary' }, { tier: 2, target: 'webhook:secondary' }] } });
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^sfu_panic_tier_targets_unconfigured 2$/m);

      const token = mintToken(TEST_SECRET, { room: 'reach', identity: 'kid', role: 'student' });
      const kid = await RtcClient.connect(`${url.replace(/^http/, 'ws')}/rtc`, { token });
      await kid.request('join', {});
      const kidSafety = await safetyClient(url, token, 'websocket');
      const desk = await safetyClient(url, mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] }), 'websocket');
      const raised = await kidSafety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: 'reach-integration-1' });
      expect(raised.ok).toBe(true);
      const tier1 = await desk.waitFor('panic:escalated', (d) => d.tier === 1, 4000);
      expect(tier1).toEqual({ incidentId: raised.data.incidentId, tier: 1, notified: ['webhook:primary'], targets: [{ target: 'webhook:primary', status: 'not-configured' }] });
      const tier2 = await desk.waitFor('panic:escalated', (d) => d.tier === 2, 4000);
      expect(tier2.targets).toEqual([{ target: 'webhook:secondary', status: 'not-configured' }]);
      // The raiser is told the same: nobody was reached.
      expect((await kidSafety.waitFor('panic:escalated', (d) => d.tier === 2)).targets).toEqual(tier2.targets);
      // A desk that connects later gets the replay with what the tier reached.
      const lateDesk = await safetyClient(url, mintDeskToken(TEST_SECRET, { identity: 'desk-2', rooms: ['*'] }), 'polling');
      const replay = await lateDesk.waitFor('panic:alert', (d) => d.replay === true);
      expect(replay).toMatchObject({ tier: 2, escalation: [{ target: 'webhook:secondary', status: 'not-configured' }] });
      lateDesk.close();
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^sfu_panic_escalation_targets_total\{status="not-configured"\} 2$/m);
      expect(logText).toContain('escalation tier reached nobody');
      kidSafety.close(); desk.close(); kid.close();
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a configured webhook is "sending" and a live target with nobody connected is "no-connection"', async () => {
    const hook = await startWebhookReceiver();
    const srv = await startServer({ safety: {
      tiers: [{ afterSeconds: 0, notify: ['desk'] }, { afterSeconds: 0.5, notify: ['webhook:oncall', 'room-clinicians'] }],
      webhooks: [{ name: 'oncall', url: hook.url, secret: 'webhook-secret-0123456789' }],
    } });
    try {
      expect(srv.handle.unconfiguredTargets).toEqual([]);
      const token = srv.mint('reach-2', 'kid', 'student');
      const kid = await RtcClient.connect(srv.wsUrl, { token });
      await kid.request('join', {});
      const kidSafety = await safetyClient(srv.url, token, 'polling');
      const raised = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: 'reach-integration-2' });
      const tier1 = await kidSafety.waitFor('panic:escalated', (d) => d.tier === 1, 4000);
      expect(tier1).toEqual({
        incidentId: raised.data.incidentId, tier: 1, notified: ['webhook:oncall', 'room-clinicians'],
        targets: [{ target: 'webhook:oncall', status: 'sending' }, { target: 'room-clinicians', status: 'no-connection', connections: 0 }],
      });
      await until(() => hook.hooks.some((h) => h.tier === 1), 'the tier-1 webhook', 5000);
      kidSafety.close(); kid.close();
    } finally {
      await srv.close();
      hook.close();
    }
  });

  it('a real process refuses tiers set by the operator that name a webhook that does not exist (exit 78, coded)', async () => {
    const r = spawnSync(process.execPath, ['src/main.ts'], {
      cwd: join(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 20_000,
      env: { ...process.env, SFU_DATA_DIR: join(tmpdir(), 'sfu-never-created'), SFU_PANIC_TIERS: JSON.stringify([{ afterSeconds: 0, notify: ['desk'] }, { afterSeconds: 15, notify: ['webhook:oncall'] }]) },
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('invalid configuration (ESCALATION_TARGET_UNKNOWN)');
    expect(r.stderr).toContain('safety.tiers[1] notifies webhook:oncall, but safety.webhooks has no webhook named "oncall"');
    expect(r.stdout).not.toContain('listening');
  });
});
