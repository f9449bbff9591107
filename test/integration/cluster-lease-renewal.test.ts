import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPlacement, RENEW_CHUNK } from '../../src/cluster/placement.ts';
import { RedisLink } from '../../src/cluster/redis.ts';
import type { RoomRegistry } from '../../src/room/registry.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { until } from '../helpers/until.ts';

/**
 * Lease renewal of many rooms (docs/scaling.md, "Placement", the lease) against a real
 * redis-server: one RENEW script call per RENEW_CHUNK rooms per tick, with each room's outcome as
 * when it had a call of its own: renewed or recorded (`ok`), taken over from a node whose presence
 * expired (`takeover`), or held by another live node (`conflict`, counted and logged once).
 */

const LEASE_MS = 10_000;
const CALL_TIMEOUT_MS = 300;
const ROOMS = 2 * RENEW_CHUNK + 203;

let redis: TestRedis | undefined;
let peek: Redis | undefined;
let link: RedisLink | undefined;
const warnings: string[] = [];
const log = createLogger('info', new Writable({ write(chunk, _e, cb) { const l = JSON.parse(chunk.toString()); if (l.level === 40) warnings.push(l.room); cb(); } }));

beforeAll(async () => {
  redis = await startRedis();
  if (!redis) return;
  peek = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  link = new RedisLink({ url: redis.url, nodeId: 'me', callTimeoutMs: CALL_TIMEOUT_MS, connectTimeoutMs: 1000, probeIntervalMs: 100, keyPrefix: 'sfu:', log });
  await until(() => link!.state.up, 'the link up', 10_000);
}, 60_000);

afterAll(() => {
  link?.close();
  peek?.disconnect();
  redis?.stop();
});

describe('lease renewal, many rooms per call', () => {
  it(`renews ${ROOMS} rooms in ${Math.ceil(ROOMS / RENEW_CHUNK)} script calls with each room's outcome; a hung Redis fails every room within the call deadline`, async (ctx) => {
    if (!redis) return ctx.skip('redis-server is not available');
    const ids = Array.from({ length: ROOMS }, (_, i) => `r${i}`);
    // Held here (a short lease left), held by nobody, held by a node whose presence expired, held by a live node.
    const kind = (i: number) => (i < 400 ? 'mine' : i < 800 ? 'free' : i < 1100 ? 'dead' : 'live');
    await peek!.set('sfu:node:other', '{}', 'PX', 60_000);
    for (const [i, id] of ids.entries()) {
      const k = kind(i);
      if (k === 'mine') await peek!.set(`sfu:room:${id}`, 'me', 'PX', 1000);
      if (k === 'dead') await peek!.set(`sfu:room:${id}`, 'gone', 'PX', 60_000);
      if (k === 'live') await peek!.set(`sfu:room:${id}`, 'other', 'PX', 60_000);
    }
    const events: string[] = [];
    let calls = 0;
    const counted: Pick<RedisLink, 'key' | 'eval'> = {
      key: (name) => link!.key(name),
      eval: (script, keys, args) => { calls++; return link!.eval(script, keys, args); },
    };
    const placement = new RedisPlacement({
      link: counted, nodeId: 'me', leaseMs: LEASE_MS, log,
      presence: { view: () => [], placedOn: () => undefined },
      rooms: { rooms: ids.map((id) => ({ id, closed: false })), get: () => undefined, onClosed: () => () => undefined } as unknown as Pick<RoomRegistry, 'get' | 'rooms' | 'onClosed'>,
      metrics: { placement: () => undefined, leaseEvent: (r) => void events.push(r) },
    });
    try {
      await placement.renewLeases();
      expect(calls).toBe(Math.ceil(ROOMS / RENEW_CHUNK));
      const count = (r: string) => events.filter((e) => e === r).length;
      expect([count('takeover'), count('conflict'), count('failed')]).toEqual([300, ROOMS - 1100, 0]);
      expect(warnings.sort()).toEqual(ids.filter((_, i) => kind(i) === 'live').sort());
      const holders = await peek!.mget(ids.map((id) => `sfu:room:${id}`));
      expect(holders).toEqual(ids.map((_, i) => (kind(i) === 'live' ? 'other' : 'me')));
      // Every lease held here is the full lease again (the ones held here had 1 s left).
      const ttls = await Promise.all(ids.filter((_, i) => kind(i) !== 'live').map((id) => peek!.pttl(`sfu:room:${id}`)));
      expect(Math.min(...ttls)).toBeGreaterThan(LEASE_MS - 5000);

      // Next tick: all renewed, the conflicts not counted again (once per episode).
      events.length = 0;
      warnings.length = 0;
      await placement.renewLeases();
      expect([events.length, warnings.length, calls]).toEqual([0, 0, 2 * Math.ceil(ROOMS / RENEW_CHUNK)]);

      // Redis hung: every room's renewal fails, within the call deadline.
      const resume = redis.hang();
      try {
        const started = performance.now();
        await placement.renewLeases();
        const ms = performance.now() - started;
        expect(events).toEqual(ids.map(() => 'failed'));
        expect(ms).toBeLessThan(CALL_TIMEOUT_MS + 1000);
      } finally {
        resume();
      }
    } finally {
      placement.stop();
    }
  }, 60_000);
});
