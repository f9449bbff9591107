import { Redis } from 'ioredis';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import { TestCluster, redisUpOn } from '../../test/helpers/cluster-node.ts';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import { startRedis, type TestRedis } from '../../test/helpers/redis.ts';
import { safetyClient, type SafetyClient } from '../../test/helpers/safety-client.ts';
import { TEST_SECRET } from '../../test/helpers/server.ts';
import type { ServerProcess } from '../../test/helpers/server-process.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { percentile } from '../media/sink.ts';

/**
 * The several-nodes bench of issue #13 (`--only cluster`): three real node processes (one worker
 * each, test/helpers/cluster-node.ts) sharing a real redis-server and PostgreSQL on 127.0.0.1, on
 * this one machine: correctness and overhead, not capacity. Three figures:
 *   1. placement: first joins of `rooms` distinct rooms through the nodes round-robin (at most
 *      `concurrency` at a time, following ROOM_ELSEWHERE); every joined participant stays (no media)
 *      so each room keeps its load and its placement; per-node counts and max/min, the share of
 *      first joins that were redirected, and connect-to-admitted time per join (p50/p99). Then the
 *      same for `oneEntryRooms` rooms all entering through node-a (two thirds must move). Each starts
 *      once every worker's CPU reading is low again (the score counts it; the readings lag).
 *   2. cross-node alarm latency: students in a room hosted on A raise `alarms` silent alarms, paced,
 *      a desk on B receives them over Redis (raise to desk); a second desk on A resolves each one
 *      (the open-incident cap per participant is 3, docs/safety.md).
 *   3. re-placement after a node kill: `replace` rooms placed (participants stay), SIGKILL of the
 *      node hosting most, then first joins of every one of them through the live nodes, retried
 *      until admitted: time from the kill until all are placed again (the presence TTL dominates).
 * Bounded: every wait has a deadline; nodes, Redis, PostgreSQL and temp dirs are removed in finally.
 */
export interface ClusterBenchOptions { rooms: number; oneEntryRooms: number; concurrency: number; alarms: number; alarmIntervalMs: number; raisers: number; replace: number; log: (line: string) => void }

const NAMES = ['node-a', 'node-b', 'node-c'] as const;
/** The defaults the nodes run with (config/default.json), reported with the figures. */
const PRESENCE_TTL_MS = 4000;
const PRESENCE_INTERVAL_MS = 1000;
const PLACEMENT_LEASE_MS = 10_000;

const ms = (v: number) => Math.round(v * 10) / 10;
const student = (room: string, identity: string) => mintToken(TEST_SECRET, { room, identity, role: 'student', ttlSeconds: 3600 });

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

export async function clusterBench(o: ClusterBenchOptions): Promise<object> {
  let pg: TestPostgres | undefined;
  let redis: TestRedis | undefined;
  let peek: Redis | undefined;
  const cluster = new TestCluster();
  const nodes = new Map<string, ServerProcess>();
  /** Joined participants (they leave before closing: a bare close keeps them for the reconnect grace) and /safety sockets. */
  const open = new Set<RtcClient>();
  const sockets = new Set<SafetyClient>();
  const leave = async (c: RtcClient) => {
    open.delete(c);
    if (c.ws.readyState === c.ws.OPEN) await Promise.race([c.request('leave', {}).catch(() => undefined), sleep(3000)]);
    c.close();
  };
  const closeAll = async () => {
    for (const s of sockets) s.close();
    sockets.clear();
    await pool([...open], 200, leave);
  };
  try {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    if (!pg || !redis) return { skipped: !pg ? 'PostgreSQL could not be started (see the warning above)' : 'redis-server could not be started (see the warning above)' };
    const started = performance.now();
    // Sequentially: three mediasoup workers and three Node processes starting at once on 2 cores only slow each other.
    for (const n of NAMES) nodes.set(n, await cluster.start(n, { redisUrl: redis.url, storeUrl: pg.url }));
    peek = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await untilOk(async () => (await Promise.all([...nodes.values()].map(redisUpOn))).every(Boolean)
      && (await peek!.mget(NAMES.map((n) => `sfu:node:${n}`))).every((v) => v !== null), 'every node up in Redis', 20_000);
    const startupMs = Math.round(performance.now() - started);
    o.log(`cluster: 3 nodes, Redis and PostgreSQL up in ${startupMs} ms`);

    const byUrl = (url: string) => [...nodes.entries()].find(([, n]) => n.url === url.replace(/\/$/, ''))?.[0];
    /** Joins `room` through `entry`, following ROOM_ELSEWHERE (at most 2, as the browser client does). */
    const joinThrough = async (entry: string, room: string, identity: string): Promise<{ node: string; client: RtcClient; redirects: number }> => {
      let node = entry;
      for (let redirects = 0; redirects <= 2; redirects++) {
        const n = nodes.get(node);
        if (!n) throw Object.assign(new Error(`redirected to ${node}, which is gone`), { gone: node });
        const client = await RtcClient.connect(n.wsUrl, { token: student(room, identity) });
        const res = await client.raw('join', {});
        if (res.ok) {
          open.add(client);
          return { node, client, redirects };
        }
        client.close();
        if (res.error.code !== 'ROOM_ELSEWHERE') throw new Error(`join ${room} on ${node}: ${res.error.code} ${res.error.message}`);
        const next = byUrl(res.error.data.url);
        if (!next) throw Object.assign(new Error(`redirected to an unknown URL ${res.error.data.url}`), { gone: res.error.data.url });
        node = next;
      }
      throw new Error(`more than 2 redirects joining ${room} through ${entry}`);
    };
    const records = async () => Promise.all(NAMES.filter((n) => nodes.has(n)).map(async (n) => JSON.parse((await peek!.get(`sfu:node:${n}`)) ?? '{}') as { rooms?: number; cpu?: number }));
    const roomsOpen = async () => (await records()).map((r) => r.rooms ?? -1);
    /**
     * Until every node's record shows its worker's CPU at 5% or less: the score counts it, and the
     * reading (the mean of two 5 s polls) carries the previous figure's burst for up to 10 s.
     */
    const quiet = async () => {
      await untilOk(async () => (await records()).every((r) => (r.cpu ?? 1) <= 0.05), 'every worker\'s CPU at 5% or less in the presence records', 30_000);
      return (await records()).map((r) => r.cpu);
    };
    /** Everyone leaves; resolved once no room is placed any more (each room closed on its node). */
    const emptyAll = async () => {
      await closeAll();
      await untilOk(async () => (await peek!.keys('sfu:room:*')).length === 0, 'every placement released after the rooms emptied', 20_000);
    };

    /** First joins of `n` distinct rooms `<prefix>-<i>`, entering through `entry(i)`, participants kept; then everyone leaves. */
    const placeRooms = async (n: number, prefix: string, entry: (i: number) => string) => {
      const cpuBefore = await quiet();
      const t1 = performance.now();
      const landed = await pool(Array.from({ length: n }, (_, i) => i), o.concurrency, async (i) => {
        const t0 = performance.now();
        const j = await joinThrough(entry(i), `${prefix}-${i}`, `kid-${i}`);
        return { ...j, ms: performance.now() - t0 };
      });
      const placeMs = performance.now() - t1;
      const cpuAfter = (await records()).map((r) => r.cpu);
      const counts = Object.fromEntries(NAMES.map((name) => [name, landed.filter((l) => l.node === name).length]));
      const values = Object.values(counts);
      const redirected = landed.filter((l) => l.redirects > 0).length;
      /** Connect + join until admitted (with the redirect's second connect and join when there is one). */
      const joinMs = landed.map((l) => l.ms);
      // Every room in Redis on the node that admitted it.
      const recorded = await peek!.mget(landed.map((_, i) => `sfu:room:${prefix}-${i}`));
      const mismatched = recorded.filter((v, i) => v !== landed[i]!.node).length;
      // The presence records (renewed every interval) then carry the rooms each node holds.
      await sleep(PRESENCE_INTERVAL_MS + 300);
      const figure = {
        rooms: n, concurrency: o.concurrency, keptOpen: true, cpuInPresenceRecordsBefore: cpuBefore, cpuInPresenceRecordsAfter: cpuAfter, perNode: counts,
        maxMinRatio: Math.round((Math.max(...values) / Math.max(1, Math.min(...values))) * 100) / 100,
        redirected, redirectShare: Math.round((redirected / n) * 1000) / 1000,
        joinP50Ms: ms(percentile(joinMs, 50)), joinP99Ms: ms(percentile(joinMs, 99)),
        placedInRedisElsewhere: mismatched, seconds: ms(placeMs / 1000), joinsPerSecond: Math.round(n / (placeMs / 1000)),
        roomsInPresenceRecords: await roomsOpen(),
      };
      await emptyAll();
      return figure;
    };

    // 1. Placement of `rooms` first joins, round-robin entry, participants kept.
    const placement = await placeRooms(o.rooms, 'place', (i) => NAMES[i % 3]!);
    o.log(`cluster: placement ${JSON.stringify(placement)}`);
    // 1b. The same with every first join entering through node-a (one entry point, or a skewed load balancer).
    const placementOneEntry = { entry: 'node-a', ...(await placeRooms(o.oneEntryRooms, 'one-entry', () => 'node-a')) };
    o.log(`cluster: placement through node-a only ${JSON.stringify(placementOneEntry)}`);

    // 2. Cross-node alarms: raisers in one room hosted on node-a, the measuring desk on node-b, a resolver desk on node-a.
    let room = '';
    for (let i = 0; i < 30 && !room; i++) {
      const j = await joinThrough('node-a', `alarm-room-${i}`, 'kid-0');
      if (j.node === 'node-a') room = `alarm-room-${i}`;
      else await leave(j.client);
    }
    if (!room) throw new Error('no alarm room was placed on node-a in 30 tries');
    for (let k = 1; k < o.raisers; k++) await joinThrough('node-a', room, `kid-${k}`);
    const track = (c: SafetyClient) => { sockets.add(c); return c; };
    const raisers = await Promise.all(Array.from({ length: o.raisers }, async (_, k) => track(await safetyClient(nodes.get('node-a')!.url, student(room, `kid-${k}`), 'websocket'))));
    const desk = track(await safetyClient(nodes.get('node-b')!.url, mintDeskToken(TEST_SECRET, { identity: 'desk-b', rooms: ['*'] }), 'websocket'));
    const resolvers: SafetyClient[] = await Promise.all([0, 1].map(async (k) => track(await safetyClient(nodes.get('node-a')!.url, mintDeskToken(TEST_SECRET, { identity: `resolver-${k}`, rooms: ['*'] }), 'websocket'))));
    await untilOk(() => desk.events.some((e) => e.event === 'panic:replayed'), 'desk B replayed', 5000);
    const latencies: number[] = [];
    const answered: number[] = [];
    let lost = 0;
    let resolveFailures = 0;
    const pending: Promise<void>[] = [];
    const alarmStart = performance.now();
    for (let i = 0; i < o.alarms; i++) {
      const s = raisers[i % raisers.length]!;
      const t0 = performance.now();
      const res = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `cluster-bench-${i}` });
      answered.push(performance.now() - t0);
      if (!res.ok) throw new Error(`raise ${i}: ${JSON.stringify(res)}`);
      const id = res.data.incidentId as string;
      pending.push((async () => {
        try {
          await desk.waitFor('panic:alert', (d) => d.incident.id === id && !d.replay, 5000);
          latencies.push(desk.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === id)!.at - t0);
        } catch {
          lost++;
        }
        const r = await resolvers[i % resolvers.length]!.send('panic:resolve', { incidentId: id, outcome: 'false-alarm', acknowledge: true }).catch(() => ({ ok: false }));
        if (!r.ok) resolveFailures++;
      })());
      await sleep(Math.max(0, o.alarmIntervalMs - (performance.now() - t0)));
    }
    await Promise.all(pending);
    const alarms = {
      raises: o.alarms, raisers: o.raisers, intervalMs: o.alarmIntervalMs, raisedOn: 'node-a', deskOn: 'node-b',
      raiseToDeskP50Ms: ms(percentile(latencies, 50)), raiseToDeskP99Ms: ms(percentile(latencies, 99)), raiseToDeskMaxMs: ms(Math.max(...latencies)),
      raiseAnsweredP50Ms: ms(percentile(answered, 50)), raiseAnsweredP99Ms: ms(percentile(answered, 99)),
      lost, resolveFailures, seconds: ms((performance.now() - alarmStart) / 1000),
    };
    o.log(`cluster: alarms ${JSON.stringify(alarms)}`);
    await emptyAll();

    // 3. Re-placement after a node kill.
    const before = await pool(Array.from({ length: o.replace }, (_, i) => i), o.concurrency, async (i) => joinThrough(NAMES[i % 3]!, `replace-${i}`, `kid-${i}`));
    const hosted = Object.fromEntries(NAMES.map((n) => [n, before.filter((b) => b.node === n).length]));
    const victim = NAMES.reduce((a, b) => (hosted[b]! > hosted[a]! ? b : a));
    const victimRooms = new Set(before.flatMap((b, i) => (b.node === victim ? [i] : [])));
    const killed = nodes.get(victim)!;
    nodes.delete(victim);
    const killedAt = performance.now();
    await killed.kill();
    const live = NAMES.filter((n) => n !== victim);
    let attempts = 0;
    let toDeadNode = 0;
    const placedAfter = await pool(Array.from({ length: o.replace }, (_, i) => i), o.concurrency, async (i) => {
      const deadline = killedAt + 30_000;
      for (let k = 0; ; k++) {
        attempts++;
        try {
          // A fresh identity per attempt: a token's joins are rate-limited (audit budget 1/s, burst 5).
          const j = await joinThrough(live[(i + k) % live.length]!, `replace-${i}`, `kid-${i}-again-${k}`);
          return { node: j.node, ms: performance.now() - killedAt };
        } catch (err) {
          if (!(err as { gone?: string }).gone && !/ECONNREFUSED/.test(String((err as Error).message ?? err))) throw err;
          toDeadNode++;
          if (performance.now() > deadline) throw new Error(`replace-${i} not placed again within 30 s of the kill`);
          await sleep(100);
        }
      }
    });
    const allMs = Math.max(...placedAfter.map((p) => p.ms));
    const victimMs = placedAfter.filter((_, i) => victimRooms.has(i)).map((p) => p.ms);
    const otherMs = placedAfter.filter((_, i) => !victimRooms.has(i)).map((p) => p.ms);
    const after = Object.fromEntries(live.map((n) => [n, placedAfter.filter((p) => p.node === n).length]));
    // The rooms that stayed on live nodes must not have moved (one room, one node).
    const moved = placedAfter.filter((p, i) => !victimRooms.has(i) && p.node !== before[i]!.node).length;
    const replacement = {
      rooms: o.replace, hostedBeforeKill: hosted, killed: victim, killedRooms: victimRooms.size,
      allPlacedAgainMs: Math.round(allMs),
      killedRoomsPlacedMs: { min: Math.round(Math.min(...victimMs)), p50: Math.round(percentile(victimMs, 50)), max: Math.round(Math.max(...victimMs)) },
      otherRoomsJoinedMaxMs: otherMs.length ? Math.round(Math.max(...otherMs)) : null,
      roomsOnLiveNodesMoved: moved, placedAfterKill: after, joinAttempts: attempts, refusedByDeadNode: toDeadNode,
      presenceTtlMs: PRESENCE_TTL_MS, presenceIntervalMs: PRESENCE_INTERVAL_MS, placementLeaseMs: PLACEMENT_LEASE_MS,
    };
    o.log(`cluster: re-placement ${JSON.stringify(replacement)}`);
    await closeAll();
    return { nodes: 3, workersPerNode: 1, store: 'postgres', startupMs, placement, placementOneEntry, alarms, replacement, loadAverage1m: ms(loadavg()[0]!) };
  } finally {
    await closeAll().catch(() => undefined);
    peek?.disconnect();
    await Promise.all([...nodes.values()].map((n) => Promise.race([n.stop(), sleep(10_000).then(() => n.kill())]).catch(() => undefined)));
    redis?.stop();
    pg?.stop();
    cluster.cleanUp();
  }
}

async function untilOk(pred: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
