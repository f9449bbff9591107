import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint.ts';
import { freePort } from '../helpers/free-port.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/server.ts';
import { loopbackServerEnv, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * Three nodes (real processes) sharing one PostgreSQL and one Redis (issue #13, item 5): a kick made
 * on node A closes the identity's /rtc and /safety connections on nodes B and C within 1 s over
 * Redis pub/sub; with Redis hung (SIGSTOP) or stopped, the kick still reaches B by the store read within
 * its interval and no call waits on Redis; once Redis is back, pub/sub carries kicks again without
 * a restart of either node.
 */

const SLA_MS = 1000;
const SYNC_SECONDS = 3;
const KEYS = [{ id: 'cluster', key: randomBytes(32).toString('base64') }];

let pg: TestPostgres | undefined;
let redis: TestRedis | undefined;
let a: ServerProcess | undefined;
let b: ServerProcess | undefined;
let c: ServerProcess | undefined;
const dirs: string[] = [];
let skipped: string | undefined;

async function env(node: string, storeUrl: string, redisUrl: string): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), `sfu-${node}-`));
  dirs.push(dataDir);
  const port = await freePort();
  return {
    ...loopbackServerEnv({ dataDir, storeUrl, keys: KEYS, logLevel: 'info' }),
    SFU_HTTP_PORT: String(port), SFU_CLUSTER_PUBLIC_URL: `http://127.0.0.1:${port}`,
    SFU_REDIS_URL: redisUrl, SFU_NODE_ID: node, SFU_REVOCATION_SYNC_SECONDS: String(SYNC_SECONDS),
  };
}

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  if (!pg || !redis) {
    skipped = !pg ? 'PostgreSQL is not available' : 'redis-server is not available';
    return;
  }
  a = await startServerProcess(await env('node-a', pg.url, redis.url));
  b = await startServerProcess(await env('node-b', pg.url, redis.url));
  c = await startServerProcess(await env('node-c', pg.url, redis.url));
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  redis?.stop();
  pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 30_000);

const mint = (room: string, identity: string) => mintToken(TEST_SECRET, { room, identity, role: 'student', ttlSeconds: 600 });

interface RedisView { up: boolean; node: string; redis: string; since: string; lastError?: string }

async function readyz(node: ServerProcess): Promise<{ status: number; redis: RedisView }> {
  const res = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) });
  const body = await res.json() as { details: { redis: RedisView } };
  return { status: res.status, redis: body.details.redis };
}

const redisUp = async (up: boolean) => {
  for (const node of [a!, b!]) {
    const r = await readyz(node);
    if (r.status !== 200 || r.redis.up !== up) return false;
  }
  return true;
};

async function fanoutCount(node: ServerProcess, result: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = new RegExp(`^sfu_revocation_fanout_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * A student on node B: joined on /rtc, and a /safety socket; resolves the times each closes. With
 * placement (docs/scaling.md) B may send a new room to A: the first of `room`, `room-2`, ... that
 * B hosts is used (returned as `room`).
 */
async function victimOnB(base: string, identity: string) {
  let rtc: RtcClient | undefined;
  let room = base;
  for (let i = 1; !rtc; i++) {
    if (i > 30) throw new Error(`no room of ${base}-* was placed on B in 30 tries`);
    room = i === 1 ? base : `${base}-${i}`;
    const c = await RtcClient.connect(b!.wsUrl, { token: mint(room, identity) });
    const res = await c.raw('join', {});
    if (res.ok) rtc = c;
    else {
      expect(res.error.code).toBe('ROOM_ELSEWHERE');
      c.close();
    }
  }
  const safety = await safetyClient(b!.url, mint(room, identity), 'websocket');
  const rtcClosed = rtc.closeInfo.then((info) => ({ ...info, at: performance.now() }));
  const safetyGone = new Promise<{ reason: string; at: number }>((resolve) => safety.socket.once('disconnect', (reason) => resolve({ reason, at: performance.now() })));
  return { room, rtcClosed, safetyGone };
}

/** The kick through node A's admin API; resolves when it was sent and how long A took to answer. */
async function kickOnA(room: string, identity: string): Promise<{ sent: number; answeredMs: number }> {
  const sent = performance.now();
  const res = await fetch(`${a!.url}/admin/rooms/${room}/kick`, {
    method: 'POST', signal: AbortSignal.timeout(5000),
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ identity, durationSeconds: 600, reason: 'test: cluster kick' }),
  });
  expect(res.status).toBe(200);
  return { sent, answeredMs: performance.now() - sent };
}

/** Who B's removal audit entries of the room name as the kick's actor (once B has written one: audits follow enforcement). */
async function kickActorsOnB(room: string): Promise<string[]> {
  const read = async () => {
    const res = await fetch(`${b!.url}/admin/rooms/${room}/audit`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    const audit = await res.json() as { entries: { kind: string; actor: string }[] };
    return audit.entries.filter((e) => e.kind === 'participant.kicked').map((e) => e.actor);
  };
  await until(async () => (await read()).length > 0, `B's audit of the removal in ${room}`, 5000);
  return read();
}

/** Kicks `identity` on A with a victim on B; returns how long until B closed its /rtc and /safety connections. */
async function kickAcross(base: string, identity: string, tag: string, alsoConnect?: (room: string) => Promise<void>) {
  const v = await victimOnB(base, identity);
  const room = v.room;
  await alsoConnect?.(room);
  const kick = await kickOnA(room, identity);
  const [rtc, safety] = await Promise.all([v.rtcClosed, v.safetyGone]);
  expect(rtc.code).toBe(4403);
  expect(safety.reason).toBe('io server disconnect');
  const rtcMs = Math.round(rtc.at - kick.sent);
  const safetyMs = Math.round(safety.at - kick.sent);
  console.log(`[cluster-revocation] ${tag}: kick on A answered in ${Math.round(kick.answeredMs)} ms; B closed /rtc after ${rtcMs} ms, /safety after ${safetyMs} ms`);
  return { room, rtcMs, safetyMs, answeredMs: kick.answeredMs, sent: kick.sent };
}

describe('revocations across nodes over Redis', () => {
  it('a kick on node A closes the identity\'s /rtc and /safety connections on nodes B and C within 1 s', async (ctx) => {
    if (skipped) return ctx.skip(skipped);
    await until(async () => (await redisUp(true)) && (await readyz(c!)).redis.up, 'the three nodes see Redis up', 10_000);
    // The same identity also on C: an /rtc connection (its join there answered ROOM_ELSEWHERE: the
    // room is on B) and a /safety socket.
    const onC = { rtc: undefined as RtcClient | undefined, closed: undefined as Promise<number> | undefined, safetyGone: undefined as Promise<number> | undefined };
    const r = await kickAcross('cr-live', 'kid-1', 'pub/sub', async (room) => {
      onC.rtc = await RtcClient.connect(c!.wsUrl, { token: mint(room, 'kid-1') });
      expect((await onC.rtc.raw('join', {})).error?.code).toBe('ROOM_ELSEWHERE');
      onC.closed = onC.rtc.closeInfo.then((info) => { expect(info.code).toBe(4403); return performance.now(); });
      const safety = await safetyClient(c!.url, mint(room, 'kid-1'), 'websocket');
      onC.safetyGone = new Promise((resolve) => safety.socket.once('disconnect', () => resolve(performance.now())));
    });
    expect(Math.max(r.rtcMs, r.safetyMs)).toBeLessThan(SLA_MS);
    const [cRtcAt, cSafetyAt] = await Promise.all([onC.closed!, onC.safetyGone!]);
    const cMs = Math.round(Math.max(cRtcAt, cSafetyAt) - r.sent);
    console.log(`[cluster-revocation] pub/sub: C closed the identity's /rtc and /safety within ${cMs} ms of the kick`);
    expect(cMs).toBeLessThan(SLA_MS);
    // It came over Redis (the store read would say revocation-sync), and A counted its publish.
    expect(await kickActorsOnB(r.room)).toEqual(['revocation-peer']);
    expect(await fanoutCount(a!, 'published')).toBe(1);
    expect(await fanoutCount(b!, 'applied')).toBe(1);
    // The store read later finds the same revocation known: nothing is enforced or audited twice.
    await until(async () => (await fanoutCount(a!, 'own')) === 1, 'A hears its own message and ignores it', 5000);
    // The Redis password never reaches a log line, /readyz or /metrics.
    const views = await Promise.all([readyz(a!), readyz(b!)]);
    expect(JSON.stringify(views)).not.toContain(redis!.password);
    expect(views.map((v) => v.redis.node)).toEqual(['node-a', 'node-b']);
    expect(a!.output() + b!.output()).not.toContain(redis!.password);
    expect(await (await fetch(`${b!.url}/metrics`)).text()).toMatch(/^sfu_redis_up 1$/m);
  }, 30_000);

  it('drops malformed messages on the revocation channel (counted), and goes on', async (ctx) => {
    if (skipped) return ctx.skip(skipped);
    const intruder = new Redis(redis!.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await intruder.connect();
    try {
      const valid = { v: 1, node: 'node-x', room: 'cr-bad', identity: 'kid-9', until: Date.now() + 60_000, reason: 'x' };
      for (const m of ['kick everyone', JSON.stringify({ ...valid, identity: undefined }), JSON.stringify({ ...valid, extra: 1 }), 'x'.repeat(4096)]) {
        expect(await intruder.publish('sfu:revocations', m)).toBe(3);
      }
    } finally {
      intruder.disconnect();
    }
    await until(async () => (await fanoutCount(a!, 'malformed')) === 4 && (await fanoutCount(b!, 'malformed')) === 4, 'both nodes count 4 malformed messages', 5000);
    expect(b!.output()).not.toContain('kick everyone');
    const r = await kickAcross('cr-after-bad', 'kid-6', 'pub/sub after malformed messages');
    expect(Math.max(r.rtcMs, r.safetyMs)).toBeLessThan(SLA_MS);
  }, 20_000);

  it('with Redis hung (SIGSTOP), the kick reaches B by the store read, nothing waits on Redis, and pub/sub works again after', async (ctx) => {
    if (skipped) return ctx.skip(skipped);
    const resume = redis!.hang();
    try {
      await until(() => redisUp(false), 'both nodes see Redis down, still ready', 5000);
      const r = await kickAcross('cr-hung', 'kid-2', 'Redis hung');
      expect(r.answeredMs).toBeLessThan(SLA_MS);
      expect(Math.max(r.rtcMs, r.safetyMs)).toBeLessThan(SYNC_SECONDS * 1000 + SLA_MS);
      expect(await kickActorsOnB(r.room)).toEqual(['revocation-sync']);
      expect(await fanoutCount(a!, 'publish_failed')).toBeGreaterThanOrEqual(1);
      expect((await readyz(b!)).redis.lastError).toBeTruthy();
      expect(await (await fetch(`${b!.url}/metrics`)).text()).toMatch(/^sfu_redis_up 0$/m);
    } finally {
      resume();
    }
    const resumed = performance.now();
    await until(() => redisUp(true), 'both nodes see Redis up again', 10_000);
    console.log(`[cluster-revocation] Redis resumed: both nodes up again after ${Math.round(performance.now() - resumed)} ms`);
    const again = await kickAcross('cr-hung-after', 'kid-3', 'pub/sub after the hang');
    expect(Math.max(again.rtcMs, again.safetyMs)).toBeLessThan(SLA_MS);
    expect(await kickActorsOnB(again.room)).toEqual(['revocation-peer']);
  }, 40_000);

  it('with Redis stopped, the kick reaches B by the store read; after a restart of Redis, pub/sub works again', async (ctx) => {
    if (skipped) return ctx.skip(skipped);
    await redis!.shutdown();
    await until(() => redisUp(false), 'both nodes see Redis down, still ready', 5000);
    const r = await kickAcross('cr-down', 'kid-4', 'Redis stopped');
    expect(r.answeredMs).toBeLessThan(SLA_MS);
    expect(Math.max(r.rtcMs, r.safetyMs)).toBeLessThan(SYNC_SECONDS * 1000 + SLA_MS);
    expect(await kickActorsOnB(r.room)).toEqual(['revocation-sync']);

    const restarted = performance.now();
    await redis!.start();
    await until(() => redisUp(true), 'both nodes see Redis up again', 10_000);
    console.log(`[cluster-revocation] Redis restarted: both nodes up again after ${Math.round(performance.now() - restarted)} ms`);
    const again = await kickAcross('cr-down-after', 'kid-5', 'pub/sub after the restart');
    expect(Math.max(again.rtcMs, again.safetyMs)).toBeLessThan(SLA_MS);
    expect(await kickActorsOnB(again.room)).toEqual(['revocation-peer']);
  }, 40_000);
});
