import { createECDH } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters, vp8Parameters } from '../helpers/ws-client.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts';
import { havePrometheus, startPrometheus, type TestPrometheus } from '../helpers/prometheus.ts';
import { until } from '../helpers/until.ts';

// deploy/grafana/dashboard.json and deploy/prometheus/ against the real thing: a server under a
// small load (joins, media objects, a refused token, a failed request, an end-to-end encrypted room
// with a key relay and a rekey, an alarm raised over /safety,
// left unacknowledged past its last tier, then acknowledged), scraped every second by Debian's
// Prometheus running deploy/prometheus/prometheus.yml with the rule files. Every panel's query
// must parse and return series there; so must every recording rule; no rule may fail to evaluate.
const SUITE = 'The Prometheus-backed dashboard tests';
const available = havePrometheus(SUITE);

interface Target { expr: string; refId: string }
interface Panel { type: string; title: string; targets?: Target[] }
interface Dashboard { panels: Panel[]; templating: { list: { name: string; type: string; query: unknown }[] } }
const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/dashboard.json', import.meta.url), 'utf8')) as Dashboard;

/** Grafana's variables replaced as Grafana would for "All nodes" over a 30 s rate window. */
const VARIABLES: Record<string, string> = {
  __rate_interval: '30s', __interval: '5s', __range: '5m', instance: '.*', bench_sessions_per_core: '300',
};
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    if (!(name in VARIABLES)) throw new Error(`dashboard query uses an unknown variable ${whole}: ${expr}`);
    return VARIABLES[name]!;
  });
}

describe('deploy/grafana/dashboard.json: the standard Grafana JSON model', () => {
  it('has the ${DS_PROMETHEUS} data source variable on every panel and query, unique ids, the four rows, a grid position each', () => {
    const ds = dashboard.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const raw = dashboard as unknown as { uid: string; title: string; schemaVersion: number; panels: (Panel & { id: number; gridPos: object; datasource?: { uid: string }; targets?: (Target & { datasource?: { uid: string } })[] })[] };
    expect(raw.uid).toBe('telepractice-sfu');
    expect(raw.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(raw.panels.filter((p) => p.type === 'row').map((p) => p.title)).toEqual(['Capacity', 'Signalling', 'Safety', 'Security']);
    expect(new Set(raw.panels.map((p) => p.id)).size).toBe(raw.panels.length);
    for (const p of raw.panels) {
      expect(p.gridPos, p.title).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, `${p.title} ${t.refId}`).toBe('${DS_PROMETHEUS}');
    }
  });
});

let srv: TestServer;
let prom: TestPrometheus | undefined;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
const closers: (() => void)[] = [];

describe.skipIf(!available)('the Grafana dashboard and the recording rules against a live server and Prometheus', () => {
  beforeAll(async () => {
    hook = await startWebhookReceiver();
    srv = await startServer({
      store: { revocationSyncSeconds: 1 },
      safety: {
        tiers: [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }, { afterSeconds: 0.5, notify: ['webhook:oncall', 'desk'] }],
        webhooks: [{ name: 'oncall', url: hook.url, secret: 'webhook-secret-0123456789' }],
      },
    });
    prom = await startPrometheus(new URL(srv.url).host, SUITE);
  });
  afterAll(async () => {
    for (const close of closers) close();
    await prom?.stop();
    await srv?.close();
    hook?.close();
  });

  async function firing(alertname: string): Promise<boolean> {
    const r = await prom!.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('alerts');
    return r.data.alerts.some((a) => a.labels.alertname === alertname && a.state === 'firing');
  }

  it('every panel query parses and returns series, every recording rule returns series, no rule fails', async () => {
    if (!prom) throw new Error('Prometheus did not start');
    await until(async () => (await prom!.query('up{job="sfu"} == 1')).data.result.length === 1, 'Prometheus to scrape the server', 20_000);

    // Signalling and media: a 1:1 session with audio and video both ways, and a second room.
    const room = 'dash-1';
    const clin = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'clin', 'clinician') });
    const kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
    const other = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dash-2', 'clin-2', 'clinician') });
    closers.push(() => clin.close(), () => kid.close(), () => other.close());
    const clinInfo = await clin.request('join', {});
    const kidInfo = await kid.request('join', {});
    await other.request('join', {});
    for (const [c, info, ssrc] of [[clin, clinInfo, 1000], [kid, kidInfo, 2000]] as const) {
      const send = await c.request('createTransport', { direction: 'send' });
      await c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(ssrc + 1), source: 'mic' });
      await c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(ssrc + 2), source: 'camera' });
      await c.request('createTransport', { direction: 'recv', rtpCapabilities: info.routerRtpCapabilities });
    }
    await kid.waitFor('newConsumer', (d) => d.kind === 'video');
    await clin.waitFor('newConsumer', (d) => d.kind === 'video');
    // A request answered with an error code, and a refused upgrade.
    expect((await kid.raw('resumeConsumer', { consumerId: 'no-such-consumer' })).ok).toBe(false);
    await expect(RtcClient.connect(srv.wsUrl, { token: 'not-a-token' })).rejects.toMatchObject({ status: 401 });
    // An end-to-end encrypted room: two sender keys relayed, one refused (no such participant), a
    // departure and its rekey round.
    const publicKey = () => ({ e2ee: { publicKey: createECDH('prime256v1').generateKeys().toString('base64url') } });
    const enc = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dash-e2ee', 'enc-clin', 'clinician', { e2ee: 'required' }) });
    const encKid = await RtcClient.connect(srv.wsUrl, { token: srv.mint('dash-e2ee', 'enc-kid', 'student', { e2ee: 'required' }) });
    closers.push(() => enc.close(), () => encKid.close());
    await enc.request('join', publicKey());
    const encKidInfo = await encKid.request('join', publicKey());
    const blob = Buffer.alloc(120, 7).toString('base64url');
    const relayed = await enc.request('e2eeKeys', { epoch: 1, keys: [{ to: encKidInfo.participantId, blob }, { to: 'nobody-here', blob }] });
    expect(relayed.delivered).toEqual([encKidInfo.participantId]);
    expect(relayed.refused).toHaveLength(1);
    await encKid.request('leave', {});
    await enc.waitFor('e2eeRekey');

    // Safety: a silent alarm over /safety (WebSocket), unacknowledged past its last tier (0.5 s,
    // a webhook), until Prometheus fires SfuPanicUnacknowledged; then the clinician acknowledges it.
    const desk: SafetyClient = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] }), 'websocket');
    const clinSafety = await safetyClient(srv.url, srv.mint(room, 'clin', 'clinician'), 'websocket');
    const kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), 'websocket');
    closers.push(() => desk.close(), () => clinSafety.close(), () => kidSafety.close());
    const raised = await kidSafety.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: 'dashboard-test-1' });
    expect(raised.ok).toBe(true);
    await desk.waitFor('panic:alert', (a) => a.incident.id === raised.data.incidentId);
    await desk.waitFor('panic:escalated', (d) => d.tier === 1, 5000);
    await until(() => hook.hooks.some((h) => h.tier === 1), 'the tier-1 webhook', 5000);
    await until(() => firing('SfuPanicUnacknowledged'), 'Prometheus to fire SfuPanicUnacknowledged', 20_000);
    const ack = await clinSafety.send('panic:ack', { incidentId: raised.data.incidentId });
    expect(ack.ok).toBe(true);
    await desk.waitFor('panic:acknowledged', (d) => d.incidentId === raised.data.incidentId);
    await until(async () => !(await firing('SfuPanicUnacknowledged')), 'SfuPanicUnacknowledged to resolve after the ack', 20_000);
    await until(async () => (await prom!.query('sfu_panic_ack_seconds_count == 1')).data.result.length === 1, 'Prometheus to scrape the ack', 20_000);

    const one = async (expr: string) => Number((await prom!.query(expr)).data.result[0]?.value[1]);
    console.info(JSON.stringify({
      measure: 'prometheus-dashboard-live',
      eventLoopP99Ms: Math.round((await one('nodejs_eventloop_lag_p99_seconds')) * 10000) / 10,
      panicDeliveryP99Ms: Math.round((await one('instance:sfu_panic_delivery_seconds:p99_30m')) * 10000) / 10,
      joinP99Ms: Math.round((await one('instance:sfu_join_duration_seconds:p99_5m')) * 10000) / 10,
      storeWritable: await one('sfu_store_writable'),
    }));

    // Every panel query: parses (status success) and returns at least one series.
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: substitute(t.expr) })));
    expect(queries.length).toBeGreaterThanOrEqual(20);
    const problems: string[] = [];
    for (const q of queries) {
      let last: Awaited<ReturnType<TestPrometheus['query']>> | undefined;
      // Rates need two samples in their window: a series may take a scrape or two to appear.
      await until(async () => {
        last = await prom!.query(q.expr);
        return last.status !== 'success' || last.data.result.length > 0;
      }, `${q.panel}: ${q.expr}`, 10_000).catch(() => undefined);
      if (last?.status !== 'success') problems.push(`${q.panel} (${q.refId}): ${q.expr}: ${last?.errorType}: ${last?.error}`);
      else if (last.data.result.length === 0) problems.push(`${q.panel} (${q.refId}): no series: ${q.expr}`);
    }
    // And every metric a query names is known to Prometheus (scraped, or recorded by a rule).
    const names = new Set((await prom.api<string[]>('label/__name__/values')).data);
    for (const q of queries) {
      const unknown = (q.expr.match(/\b(?:sfu_\w+|nodejs_\w+|(?:instance|job):\w+:\w+)/g) ?? []).filter((n) => !names.has(n));
      if (unknown.length > 0) problems.push(`${q.panel} (${q.refId}): no such metric in Prometheus: ${unknown.join(', ')}`);
    }
    expect(problems).toEqual([]);

    // The node variable's query finds this node.
    const instances = await prom.api<string[]>('label/instance/values', { 'match[]': 'sfu_workers{job="sfu"}' });
    expect(instances.data).toEqual([new URL(srv.url).host]);

    // Every recording rule returns series; no rule (recording or alerting) failed to evaluate.
    type Rule = { name: string; type: string; health: string; lastError?: string };
    const groups = (await prom.api<{ groups: { rules: Rule[] }[] }>('rules')).data.groups;
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.filter((r) => r.type === 'recording').length).toBeGreaterThanOrEqual(10);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    for (const r of rules.filter((x) => x.type === 'recording')) {
      const res = await prom.query(r.name);
      expect(res.data.result.length, `recording rule ${r.name} returns series`).toBeGreaterThan(0);
    }
  }, 120_000);
});
