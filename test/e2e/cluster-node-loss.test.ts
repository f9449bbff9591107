import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint.ts';
import type { Store } from '../../src/store/types.ts';
import { buildClient, chromiumFor, launchChromium, openClient, pollUntil, waitForMediaFlow, waitForState, type ClientPage } from '../helpers/browser.ts';
import { roomHost, TestCluster } from '../helpers/cluster-node.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import type { ServerProcess } from '../helpers/server-process.ts';
import { TcpBalancer } from '../helpers/tcp-balancer.ts';

/**
 * Node loss in the browser client (issue #13, item 6): two nodes sharing Redis and PostgreSQL
 * behind a plain round-robin TCP balancer; a clinician and a student open the pages through the
 * balancer and are in a call on the room's node. SIGKILL that node: both pages reconnect by
 * themselves (the dead node, then the balancer), their sessions are restored on the live node from
 * their admission records (same participant ids, no new consent, no new admission record), and
 * both decode each other's video and receive audio again within 15 s of the kill; the student's
 * panic button works on the live node.
 */
const available = chromiumFor('the cluster node-loss e2e test');

const ROOM = 'e2e-node-loss-room';
const BACK_WITHIN_MS = 15_000;

let pg: TestPostgres | undefined;
let redis: TestRedis | undefined;
let lb: TcpBalancer | undefined;
let store: Store | undefined;
let browser: Browser | undefined;
const nodes: Record<string, ServerProcess> = {};
const pages: ClientPage[] = [];
const cluster = new TestCluster({ id: 'e2e-loss', key: randomBytes(32) });

beforeAll(async () => {
  if (!available) return;
  buildClient();
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  if (!pg || !redis) return;
  const env = { SFU_PRESENCE_INTERVAL_MS: '500', SFU_PRESENCE_TTL_MS: '2000', SFU_LOG_LEVEL: 'warn' };
  [nodes['node-a'], nodes['node-b'], browser] = await Promise.all([
    cluster.start('node-a', { storeUrl: pg.url, redisUrl: redis.url, env }),
    cluster.start('node-b', { storeUrl: pg.url, redisUrl: redis.url, env }),
    launchChromium(),
  ]);
  lb = await TcpBalancer.start(Object.values(nodes).map((n) => Number(new URL(n.url).port)));
  store = await cluster.openStore(pg.url);
}, 120_000);

afterAll(async () => {
  for (const p of pages) await p.page.context().close().catch(() => undefined);
  await browser?.close();
  lb?.close();
  await Promise.all(Object.values(nodes).map((n) => n.stop()));
  await store?.close().catch(() => undefined);
  redis?.stop();
  pg?.stop();
  cluster.cleanUp();
}, 60_000);

describe.skipIf(!available)('browser client: the room\'s node dies', () => {
  it('both people are back in the call on the live node within 15 s, without consenting again', async (ctx) => {
    if (!pg || !redis) return ctx.skip('PostgreSQL or redis-server is not available');
    const link = (identity: string, role: 'clinician' | 'student') => ({
      token: mintToken(TEST_SECRET, { room: ROOM, identity, role, ttlSeconds: 600 }), policy: '2026-09',
    });
    const clinician = await openClient(browser!, lb!.url, 'clinician', link('clinician-1', 'clinician'));
    pages.push(clinician);
    await waitForState(clinician, 'joined');
    const student = await openClient(browser!, lb!.url, 'student', link('student-1', 'student'));
    pages.push(student);
    await waitForState(student, 'joined');
    await Promise.all([waitForMediaFlow(clinician), waitForMediaFlow(student)]);
    const ids = { clinician: await clinician.participantId(), student: await student.participantId() };
    const host = await roomHost(nodes, ROOM);
    expect(host).toBeDefined();
    const admissions = (await store!.participants(ROOM)).map((p) => p.sessionId).sort();
    expect(admissions).toEqual([ids.clinician, ids.student].sort());

    const killedAt = Date.now();
    await nodes[host!]!.kill();
    const live = host === 'node-a' ? 'node-b' : 'node-a';
    const [a, b] = await Promise.all([
      waitForMediaFlow(clinician, { timeoutMs: BACK_WITHIN_MS }),
      waitForMediaFlow(student, { timeoutMs: BACK_WITHIN_MS }),
    ]);
    const backMs = Date.now() - killedAt;
    console.log(`[e2e-node-loss] ${host} killed; both pages decode video and receive audio again on ${live} ${backMs} ms later; `
      + `timelines ${JSON.stringify(a.timings)} / ${JSON.stringify(b.timings)}`);
    expect(backMs).toBeLessThan(BACK_WITHIN_MS);
    expect(a.framesDecodedDeltas.every((d) => d > 0) && b.framesDecodedDeltas.every((d) => d > 0)).toBe(true);
    expect(await roomHost(nodes, ROOM)).toBe(live);
    // The same sessions, restored: same participant ids, no new admission record (no consent given again).
    expect(await clinician.participantId()).toBe(ids.clinician);
    expect(await student.participantId()).toBe(ids.student);
    expect(await clinician.remoteParticipants()).toEqual([ids.student]);
    expect((await store!.participants(ROOM)).map((p) => p.sessionId).sort()).toEqual(admissions);
    expect((await store!.auditTrail(ROOM)).filter((e) => e.kind === 'session.restored')).toHaveLength(2);
    // The pages said what happened.
    await pollUntil('the clinician page to tell that the connection moved', () => clinician.page.locator('#notices').innerText(),
      (t) => t.includes('moved to another server'), { timeoutMs: 2000 });
    expect(JSON.stringify(a.timings)).toContain('restored');

    // The student's panic channel followed the session to the live node: a silent alarm raised now
    // is acknowledged there and shown on the clinician's page.
    await student.page.check('#panic-silent');
    await student.page.click('#panic');
    const raised = await pollUntil('the student\'s alarm to be acknowledged after the move', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string }>,
      (p) => p.acked, { timeoutMs: 10_000 });
    await pollUntil('the clinician\'s banner to show the alarm', () => clinician.page.evaluate(`(() => {
      const b = document.getElementById('panic-banner');
      return !!b && !b.hidden && b.dataset.incidentId === ${JSON.stringify(raised.lastIncidentId)};
    })()`) as Promise<boolean>, (shown) => shown, { timeoutMs: 10_000 });
    expect((await store!.incidents.get(raised.lastIncidentId!))?.room).toBe(ROOM);
  }, 120_000);
});
