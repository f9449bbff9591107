import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.ts';
import { deskToken, redisUpOn, studentToken, TestCluster, everyNodeSeesRedis } from '../helpers/cluster-node.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startWebhookReceiver, type ReceivedHook } from '../helpers/webhook-receiver.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import type { ServerProcess } from '../helpers/server-process.ts';
import { observeFor, pace, until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * Issue #13, item 4 ("escalation owned once") with real processes: three nodes sharing one
 * PostgreSQL and one redis-server, and a webhook receiver in this process. SIGKILL the node that
 * raised (and owns) an unacknowledged alarm before its tier 1: another node takes the escalation
 * over and tier 1's webhook arrives once, with its idempotency key, within tier time + 5 s; an ack
 * on C afterwards stops the later tiers and reaches a desk on B. Without kills, a tier fires once
 * across the three nodes.
 */

const TIER1_S = 4;
const TIER2_S = 9;
const LEASE_MS = 3000;
const RUNS = 3;
/** Open incidents held by A while the other nodes' Redis commands are counted (MONITOR), and for how long. */
const IO_INCIDENTS = 10;
const IO_WINDOW_MS = 3500;
/** When each run kills A after the raise: at once (takeover before tier 1 is due), and late (tier 1 falls due before the takeover: it fires at once). */
const KILL_AFTER_MS = [0, 0, 2500];
const KEY = randomBytes(32);
const TIERS = [
  { afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
  { afterSeconds: TIER1_S, notify: ['desk', 'webhook:hook'] },
  { afterSeconds: TIER2_S, notify: ['webhook:hook'] },
];

let pg: TestPostgres | undefined;
let redis: TestRedis | undefined;
let peek: Redis | undefined;
let store: Store | undefined;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
let hookUrl = '';
let hooks: ReceivedHook[] = [];
const nodes: Record<string, ServerProcess> = {};
const open: { close(): void }[] = [];
let skipped: string | undefined;

const cluster = new TestCluster({ id: 'cluster-esc', key: KEY });
const startNode = (name: string) => cluster.start(`node-${name}`, {
  storeUrl: pg!.url, redisUrl: redis!.url,
  env: {
    SFU_ESCALATION_LEASE_MS: String(LEASE_MS), SFU_PANIC_TIERS: JSON.stringify(TIERS),
    SFU_PANIC_WEBHOOKS: JSON.stringify([{ name: 'hook', url: hookUrl, secret: 'test-webhook-secret-0123456789' }]),
  },
});

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  if (!pg || !redis) {
    skipped = !pg ? 'PostgreSQL is not available' : 'redis-server is not available';
    return;
  }
  receiver = await startWebhookReceiver();
  ({ url: hookUrl, hooks } = receiver);
  for (const n of ['a', 'b', 'c']) nodes[n] = await startNode(n);
  peek = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  store = await cluster.openStore(pg.url);
  await everyNodeSeesRedis(nodes);
}, 120_000);

afterAll(async () => {
  for (const c of open) c.close();
  await Promise.all(Object.values(nodes).map((n) => n.stop()));
  await store?.close().catch(() => undefined);
  peek?.disconnect();
  receiver?.close();
  redis?.stop();
  pg?.stop();
  cluster.cleanUp();
}, 30_000);

const student = studentToken;
const desk = deskToken;

async function connect(node: string, token: string): Promise<SafetyClient> {
  const c = await safetyClient(nodes[node]!.url, token, 'websocket');
  open.push(c);
  return c;
}

/** A student joined (consent, location) in a room hosted on A. */
async function studentOnA(base: string, identity: string): Promise<string> {
  for (let i = 1; i <= 30; i++) {
    const room = `${base}-${i}`;
    const rtc = await RtcClient.connect(nodes.a!.wsUrl, { token: student(room, identity) });
    const res = await rtc.raw('join', {});
    if (res.ok) {
      open.push(rtc);
      return room;
    }
    expect(res.error.code).toBe('ROOM_ELSEWHERE');
    rtc.close();
  }
  throw new Error(`no room of ${base}-* was placed on A in 30 tries`);
}

const owner = (incidentId: string) => peek!.get(`sfu:incident-owner:${incidentId}`);
const hooksOf = (key: string) => hooks.filter((h) => h.key === key);

/** A silent alarm raised on A by a student of a room on A; resolves once A holds its escalation lease. */
async function raiseOnA(run: string): Promise<{ incidentId: string; raisedAt: number }> {
  const room = await studentOnA(`esc-${run}`, `kid-${run}`);
  const raiser = await connect('a', student(room, `kid-${run}`));
  const reply = await raiser.send('panic:raise', { kind: 'medical', silent: true, clientIncidentId: randomUUID() });
  expect(reply.ok, JSON.stringify(reply)).toBe(true);
  const incidentId = reply.data.incidentId as string;
  await until(async () => (await owner(incidentId)) === 'node-a', 'A holds the escalation lease', 2000);
  return { incidentId, raisedAt: Date.parse(reply.data.receivedAt as string) };
}

describe('escalation owned once (3 nodes, Redis, PostgreSQL, webhooks)', () => {
  for (let run = 1; run <= RUNS; run++) {
    it(`run ${run}/${RUNS}: SIGKILL of the owning node before tier 1: another node fires tier 1 once on schedule; an ack on C stops tier 2 and reaches a desk on B`, async (ctx) => {
      if (skipped) ctx.skip();
      if (!nodes.a || nodes.a.child.exitCode !== null || nodes.a.child.signalCode !== null) nodes.a = await startNode('a');
      await until(() => redisUpOn(nodes.a!), 'A sees Redis up', 15_000);
      const deskB = await connect('b', desk(`desk-b-${run}`));
      const { incidentId, raisedAt } = await raiseOnA(`k${run}`);
      await pace(Math.max(0, raisedAt + KILL_AFTER_MS[run - 1]! - Date.now()));
      const killedAt = Date.now();
      await nodes.a!.kill();
      expect(killedAt - raisedAt).toBeLessThan(TIER1_S * 1000);

      const key1 = `${incidentId}:tier-1:hook`;
      const due1 = raisedAt + TIER1_S * 1000;
      await until(() => hooksOf(key1).length > 0, 'the tier-1 webhook from a live node', due1 + 5000 - Date.now());
      const taker = await owner(incidentId);
      expect(['node-b', 'node-c']).toContain(taker);
      const first = hooksOf(key1)[0]!;
      expect(first.bodyKey).toBe(key1);
      expect(first.tier).toBe(1);
      const events = await store!.incidents.events(incidentId);
      const takeover = events.find((e) => e.type === 'escalation-taken-over');
      expect(takeover?.data.node).toBe(taker);
      const takeoverMs = Date.parse(takeover!.at) - killedAt;
      console.log(`[cluster-escalation] run ${run}: A killed ${killedAt - raisedAt} ms after the raise; ${taker} took over ${takeoverMs} ms after the kill; tier-1 webhook ${first.at - due1} ms after its due time`);

      // Not lost: still open in the shared store, with its escalation recorded once.
      const stored = await store!.incidents.get(incidentId);
      expect(stored?.state).toBe('open');
      expect(stored?.tier).toBe(1);
      expect(events.filter((e) => e.type === 'escalated' && e.data.tier === 1)).toHaveLength(1);

      // An ack on C (relayed to the new owner) is accepted and reaches a desk on B.
      const deskC = await connect('c', desk(`desk-c-${run}`));
      await until(() => deskC.events.some((e) => e.event === 'panic:replayed'), 'desk C replayed');
      const ack = await deskC.send('panic:ack', { incidentId });
      expect(ack.ok, JSON.stringify(ack)).toBe(true);
      await until(() => deskB.events.some((e) => e.event === 'panic:acknowledged' && e.data.incidentId === incidentId), 'panic:acknowledged on desk B', 1000);

      // Tier 2 must not fire; tier 1's webhook stays at one delivery.
      await observeFor(Math.max(0, raisedAt + (TIER2_S + 1.5) * 1000 - Date.now()));
      expect(hooksOf(key1)).toHaveLength(1);
      expect(hooksOf(`${incidentId}:tier-2:hook`)).toEqual([]);
      const resolved = await deskC.send('panic:resolve', { incidentId, outcome: 'continued' });
      expect(resolved.ok, JSON.stringify(resolved)).toBe(true);
      await until(async () => (await owner(incidentId)) === null, 'the lease released after the resolve', 2000);
    }, 90_000);
  }

  it(`${IO_INCIDENTS} open incidents owned by a live node: the other nodes send no lease script for them, only one registry read and one MGET per round`, async (ctx) => {
    if (skipped) ctx.skip();
    if (!nodes.a || nodes.a.child.exitCode !== null || nodes.a.child.signalCode !== null) nodes.a = await startNode('a');
    await until(() => redisUpOn(nodes.a!), 'A sees Redis up', 15_000);
    // IO_INCIDENTS students in one room on A, each with one open alarm (A owns every escalation).
    const room = await studentOnA('esc-io', 'kid-io-0');
    for (let i = 1; i < IO_INCIDENTS; i++) {
      const rtc = await RtcClient.connect(nodes.a!.wsUrl, { token: student(room, `kid-io-${i}`) });
      open.push(rtc);
      const joined = await rtc.raw('join', {});
      expect(joined.ok, JSON.stringify(joined)).toBe(true);
    }
    const ids: string[] = [];
    let lastRaisedAt = 0;
    for (let i = 0; i < IO_INCIDENTS; i++) {
      const raiser = await connect('a', student(room, `kid-io-${i}`));
      const reply = await raiser.send('panic:raise', { kind: 'medical', silent: true, clientIncidentId: randomUUID() });
      expect(reply.ok, JSON.stringify(reply)).toBe(true);
      ids.push(reply.data.incidentId as string);
      lastRaisedAt = Date.parse(reply.data.receivedAt as string);
    }
    await until(async () => (await Promise.all(ids.map(owner))).every((o) => o === 'node-a'), 'A holds every lease', 5000);
    // Older than a lease: from now on every other node's round considers them.
    await until(() => Date.now() - lastRaisedAt > LEASE_MS, 'every incident older than a lease', LEASE_MS + 1000);
    const leaseKeys = new Set(ids.map((id) => `sfu:incident-owner:${id}`));
    const names = new Map<string, string>();
    for (const line of (await peek!.client('LIST') as string).split('\n')) {
      const addr = /\baddr=(\S+)/.exec(line)?.[1];
      const name = /\bname=sfu-(node-[abc])\b/.exec(line)?.[1];
      if (addr && name) names.set(addr, name);
    }
    const monitor = await new Redis(redis!.url).monitor();
    const seen: { node: string; cmd: string; args: string[] }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const node = names.get(source);
      if (node) seen.push({ node, cmd: args[0]!.toLowerCase(), args });
    });
    await observeFor(IO_WINDOW_MS);
    monitor.disconnect();
    const leaseEvals = (node: string) => seen.filter((s) => s.node === node && s.cmd === 'eval' && leaseKeys.has(s.args[3]!)).length;
    const calls = (node: string, cmd: string) => seen.filter((s) => s.node === node && s.cmd === cmd).length;
    for (const node of ['node-a', 'node-b', 'node-c']) {
      const byCmd = new Map<string, number>();
      for (const s of seen) if (s.node === node) byCmd.set(s.cmd, (byCmd.get(s.cmd) ?? 0) + 1);
      console.log(`[cluster-escalation] I/O with ${IO_INCIDENTS} incidents owned by A, ${IO_WINDOW_MS} ms: ${node} sent ${leaseEvals(node)} lease evals for them; all commands: ${JSON.stringify(Object.fromEntries(byCmd))}`);
    }
    // A renews each lease every round (about one per second); B and C never touch them.
    expect(leaseEvals('node-a')).toBeGreaterThanOrEqual(2 * IO_INCIDENTS);
    expect(leaseEvals('node-b')).toBe(0);
    expect(leaseEvals('node-c')).toBe(0);
    for (const node of ['node-b', 'node-c']) {
      const rounds = calls(node, 'zrangebyscore');
      expect(rounds).toBeGreaterThanOrEqual(2);
      expect(rounds).toBeLessThanOrEqual(Math.ceil(IO_WINDOW_MS / 1000) + 1);
      expect(seen.filter((s) => s.node === node && s.cmd === 'mget' && s.args.some((a) => leaseKeys.has(a))).length).toBeLessThanOrEqual(rounds);
    }

    // Resolved through B (relayed to A): every lease is released and the registry forgets them.
    const deskB = await connect('b', desk('desk-b-io'));
    await until(() => deskB.events.some((e) => e.event === 'panic:replayed'), 'desk B replayed');
    for (const incidentId of ids) {
      const resolved = await deskB.send('panic:resolve', { incidentId, outcome: 'false-alarm', acknowledge: true });
      expect(resolved.ok, JSON.stringify(resolved)).toBe(true);
    }
    await until(async () => (await Promise.all(ids.map(owner))).every((o) => o === null), 'every lease released', 2000);
    await until(async () => (await Promise.all(ids.map((id) => peek!.zscore('sfu:open-incidents', id)))).every((s) => s === null), 'the registry forgets them', 2000);
  }, 60_000);

  it('without kills, tier 1 fires exactly once across the three nodes, from the raising node', async (ctx) => {
    if (skipped) ctx.skip();
    if (!nodes.a || nodes.a.child.exitCode !== null || nodes.a.child.signalCode !== null) nodes.a = await startNode('a');
    await until(() => redisUpOn(nodes.a!), 'A sees Redis up', 15_000);
    const { incidentId, raisedAt } = await raiseOnA('normal');
    const key1 = `${incidentId}:tier-1:hook`;
    await until(() => hooksOf(key1).length > 0, 'the tier-1 webhook', raisedAt + (TIER1_S + 2) * 1000 - Date.now());
    console.log(`[cluster-escalation] normal case: tier-1 webhook ${hooksOf(key1)[0]!.at - (raisedAt + TIER1_S * 1000)} ms after its due time`);
    // Past several renewal and takeover rounds of every node.
    await observeFor(2 * LEASE_MS);
    expect(hooksOf(key1)).toHaveLength(1);
    const events = await store!.incidents.events(incidentId);
    expect(events.filter((e) => e.type === 'escalated' && e.data.tier === 1)).toHaveLength(1);
    expect(events.filter((e) => e.type === 'escalation-taken-over')).toEqual([]);
    expect(await owner(incidentId)).toBe('node-a');
    const deskB = await connect('b', desk('desk-b-normal'));
    await until(() => deskB.events.some((e) => e.event === 'panic:replayed'), 'desk B replayed');
    const resolved = await deskB.send('panic:resolve', { incidentId, outcome: 'false-alarm', acknowledge: true });
    expect(resolved.ok, JSON.stringify(resolved)).toBe(true);
  }, 60_000);
});
