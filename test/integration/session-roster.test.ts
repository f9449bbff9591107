import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisLink } from '../../src/cluster/redis.ts';
import { claimWindowMs, RedisRoster, refreshAfterMs, type RosterParticipant, type RosterRooms } from '../../src/cluster/redis-roster.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { pace, until } from '../helpers/until.ts';

/**
 * The session roster (src/cluster/redis-roster.ts, docs/scaling.md "Node loss") against a real
 * redis-server: what a node writes when participants are admitted, attached, leave or their room
 * closes, and what a claim by another node gets: a session moves to exactly one node, only from a
 * room no live node hosts, and only within the window after its node last saw it.
 */

let redis: TestRedis | undefined;
let peek: Redis | undefined;
const links: RedisLink[] = [];
const WINDOW_MS = 1500;
/** How old a stored `seen` may be for a claim: the window plus the refresh age (seen lags by up to that). */
const CLAIM_WINDOW_MS = claimWindowMs(WINDOW_MS);

beforeAll(async () => {
  redis = await startRedis();
  if (redis) peek = new Redis(redis.url, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(() => {
  for (const l of links) l.close();
  peek?.disconnect();
  redis?.stop();
});

/** A node's registry as the roster sees it: rooms with participants, and the two events. */
class Rooms implements RosterRooms {
  readonly #rooms = new Map<string, { id: string; closed: boolean; participants: RosterParticipant[] }>();
  readonly #participantListeners = new Set<(change: 'admitted' | 'left', roomId: string, p: RosterParticipant) => void>();
  readonly #closedListeners = new Set<(roomId: string) => void>();
  get rooms() { return [...this.#rooms.values()]; }
  onParticipant(l: (change: 'admitted' | 'left', roomId: string, p: RosterParticipant) => void) {
    this.#participantListeners.add(l);
    return () => { this.#participantListeners.delete(l); };
  }
  onClosed(l: (roomId: string) => void) {
    this.#closedListeners.add(l);
    return () => { this.#closedListeners.delete(l); };
  }
  admit(roomId: string, p: RosterParticipant): void {
    let room = this.#rooms.get(roomId);
    if (!room) this.#rooms.set(roomId, room = { id: roomId, closed: false, participants: [] });
    room.participants.push(p);
    for (const l of this.#participantListeners) l('admitted', roomId, p);
  }
  leave(roomId: string, id: string): void {
    const room = this.#rooms.get(roomId)!;
    const p = room.participants.find((x) => x.id === id)!;
    room.participants = room.participants.filter((x) => x !== p);
    for (const l of this.#participantListeners) l('left', roomId, p);
  }
  close(roomId: string): void {
    this.#rooms.delete(roomId);
    for (const l of this.#closedListeners) l(roomId);
  }
}

function node(id: string, rooms = new Rooms()) {
  const link = new RedisLink({ url: redis!.url, nodeId: id, callTimeoutMs: 500, connectTimeoutMs: 1000, probeIntervalMs: 1000, keyPrefix: 'sfu:', log: createLogger('silent') });
  links.push(link);
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.rosterEnabled();
  return { rooms, roster: new RedisRoster({ link, rooms, nodeId: id, windowMs: WINDOW_MS, log: createLogger('silent'), metrics }), link };
}

const person = (id: string, role: RosterParticipant['role'] = 'student', state: RosterParticipant['state'] = 'admitted'): RosterParticipant => ({ id, role, identity: `who-${id}`, state });
const rosterOf = (room: string, nodeId: string) => peek!.hgetall(`sfu:roster:${room}:${nodeId}`);
const redisNowMs = async () => { const [s, us] = await peek!.time(); return Number(s) * 1000 + Math.floor(Number(us) / 1000); };
/** HSET calls Redis has run since the last CONFIG RESETSTAT (those of scripts included). */
const hsetCalls = async () => Number(/cmdstat_hset:calls=(\d+)/.exec(await peek!.info('commandstats'))?.[1] ?? 0);

describe('session roster (real Redis)', () => {
  it('writes admissions at once and removals on leave and room close; a claim moves a session of a lost node exactly once', async (ctx) => {
    if (!redis) return ctx.skip('redis-server is not available');
    const a = node('ra');
    const b = node('rb');
    const c = node('rc');
    await until(() => a.link.state.up && b.link.state.up && c.link.state.up, 'links up', 5000);
    a.rooms.admit('r1', person('s1'));
    a.rooms.admit('r1', person('s2', 'clinician'));
    a.rooms.admit('r1', person('s3'));
    await until(async () => Object.keys(await rosterOf('r1', 'ra')).length === 3, 'three sessions written');
    expect((await rosterOf('r1', 'ra')).s2).toMatch(/^\d+\|clinician\|who-s2$/);
    a.rooms.leave('r1', 's3');
    await until(async () => !('s3' in await rosterOf('r1', 'ra')), 's3 removed on leave');
    // The key lives for the claim window after its last write.
    const ttl = await peek!.pttl('sfu:roster:r1:ra');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(CLAIM_WINDOW_MS);

    // A is lost (no more writes). B hosts the room now (its placement holds it); C does not.
    await peek!.set('sfu:room:r1', 'rb');
    expect(await c.roster.claim('r1', 's1', 'ra')).toEqual({ kind: 'elsewhere' });
    const [first, second] = await Promise.all([b.roster.claim('r1', 's1', 'ra'), b.roster.claim('r1', 's1', 'ra')]);
    expect(first).toEqual({ kind: 'claimed', entry: { identity: 'who-s1', role: 'student' } });
    // A retry on the same node (its join failed after the claim) finds it in B's own roster.
    expect(second).toEqual(first);
    expect(await rosterOf('r1', 'ra')).not.toHaveProperty('s1');
    expect(await rosterOf('r1', 'rb')).toHaveProperty('s1');
    // Gone from A's roster: C cannot have it even once the room is C's.
    await peek!.set('sfu:room:r1', 'rc');
    expect(await c.roster.claim('r1', 's1', 'ra')).toEqual({ kind: 'none' });
    // Never written (left before the loss), or a made-up session: none.
    expect(await c.roster.claim('r1', 's3', 'ra')).toEqual({ kind: 'none' });
    expect(await c.roster.claim('r1', 'nobody', 'ra')).toEqual({ kind: 'none' });
    // A room nobody holds (its lease ran out) may be claimed into.
    await peek!.del('sfu:room:r1');
    expect(await c.roster.claim('r1', 's2', 'ra')).toEqual({ kind: 'claimed', entry: { identity: 'who-s2', role: 'clinician' } });

    // A room closing removes every session this node wrote for it.
    b.rooms.admit('r1', person('s1'));
    b.rooms.close('r1');
    await until(async () => Object.keys(await rosterOf('r1', 'rb')).length === 0, 'B\'s roster of r1 emptied');
    for (const n of [a, b, c]) n.roster.stop();
  });

  it('a session last seen longer ago than the claim window cannot be claimed; the tick keeps attached sessions fresh, not detached ones', async (ctx) => {
    if (!redis) return ctx.skip('redis-server is not available');
    const a = node('wa');
    const b = node('wb');
    await until(() => a.link.state.up && b.link.state.up, 'links up', 5000);
    a.rooms.admit('r2', person('fresh'));
    a.rooms.admit('r2', person('away'));
    await until(async () => Object.keys(await rosterOf('r2', 'wa')).length === 2, 'two sessions written');
    const seenOf = async (id: string) => Number((await rosterOf('r2', 'wa'))[id]!.split('|')[0]);
    const awaySeen = await seenOf('away');
    // 'away' loses its connection (detached: its grace runs); the ticks go on refreshing 'fresh' only.
    const room = a.rooms.rooms.find((r) => r.id === 'r2')!;
    room.participants[1] = person('away', 'student', 'detached');
    // Ticks go on (as the node's presence interval would) until Redis's clock is past the claim window for 'away'.
    await until(async () => {
      await a.roster.tick();
      return (await redisNowMs()) - awaySeen > CLAIM_WINDOW_MS;
    }, 'the away session older than the claim window', CLAIM_WINDOW_MS + 5000);
    expect(await seenOf('away')).toBe(awaySeen);
    expect(await seenOf('fresh')).toBeGreaterThan(awaySeen);
    await peek!.set('sfu:room:r2', 'wb');
    expect(await b.roster.claim('r2', 'away', 'wa')).toEqual({ kind: 'none' });
    expect(await b.roster.claim('r2', 'fresh', 'wa')).toEqual({ kind: 'claimed', entry: { identity: 'who-fresh', role: 'student' } });
    for (const n of [a, b]) n.roster.stop();
  });

  it('a tick writes only the sessions due (last written a quarter window ago): HSETs per tick, and every attached session stays claimable', async (ctx) => {
    if (!redis) return ctx.skip('redis-server is not available');
    const a = node('ha');
    const b = node('hb');
    await until(() => a.link.state.up && b.link.state.up, 'links up', 5000);
    // 1000 sessions in 50 rooms, admitted in two halves a quarter window apart (arrivals spread out).
    const SESSIONS = 1000;
    const admit = (from: number, to: number) => { for (let i = from; i < to; i++) a.rooms.admit(`h${i % 50}`, person(`h-${i}`)); };
    const stored = async () => (await Promise.all(Array.from({ length: 50 }, (_, r) => rosterOf(`h${r}`, 'ha')))).reduce((n, h) => n + Object.keys(h).length, 0);
    admit(0, SESSIONS / 2);
    await until(async () => (await stored()) === SESSIONS / 2, 'the first half written at admission');
    await pace(refreshAfterMs(WINDOW_MS) / 2);
    admit(SESSIONS / 2, SESSIONS);
    await until(async () => (await stored()) === SESSIONS, 'the second half written at admission');
    // One window of ticks at a presence interval of a tenth of the window.
    await peek!.config('RESETSTAT');
    const interval = WINDOW_MS / 10;
    const refresh = refreshAfterMs(WINDOW_MS);
    const perTick: number[] = [];
    const tickAt: number[] = [];
    const started = await redisNowMs();
    while ((await redisNowMs()) - started < WINDOW_MS) {
      const before = await hsetCalls();
      tickAt.push(await redisNowMs());
      await a.roster.tick();
      perTick.push((await hsetCalls()) - before);
      await pace(interval);
    }
    const elapsed = (await redisNowMs()) - started;
    const total = perTick.reduce((n, x) => n + x, 0);
    console.info(JSON.stringify({ measure: 'roster-hsets-per-window', sessions: SESSIONS, ticks: perTick.length, total, perTick, everySessionEveryTick: SESSIONS * perTick.length }));
    // Each session once per refresh age at most (a slow machine ticks less often and writes fewer), not once per tick.
    expect(total).toBeLessThanOrEqual(SESSIONS * (Math.floor(elapsed / refresh) + 1));
    // The guarantee: an attached session's seen lags by at most the refresh age and the gap to the next tick.
    const maxGap = Math.max(...tickAt.slice(1).map((t, i) => t - tickAt[i]!));
    const now = await redisNowMs();
    const lagBound = refresh + maxGap + (now - tickAt.at(-1)!) + 50;
    for (let r = 0; r < 50; r++) {
      for (const v of Object.values(await rosterOf(`h${r}`, 'ha'))) expect(now - Number(v.split('|')[0])).toBeLessThanOrEqual(lagBound);
    }
    await peek!.set('sfu:room:h7', 'hb');
    expect(await b.roster.claim('h7', 'h-7', 'ha')).toEqual({ kind: 'claimed', entry: { identity: 'who-h-7', role: 'student' } });
    for (const n of [a, b]) n.roster.stop();
  });

  it('Redis hung or stopped: a claim answers unavailable within the call deadline, and a removal that failed is sent again by the next tick', async (ctx) => {
    if (!redis) return ctx.skip('redis-server is not available');
    const a = node('da');
    await until(() => a.link.state.up, 'link up', 5000);
    a.rooms.admit('r3', person('p1'));
    a.rooms.admit('r3', person('p2'));
    await until(async () => Object.keys(await rosterOf('r3', 'da')).length === 2, 'two sessions written');
    // Hung: a claim gives up within the call deadline.
    const resume = redis!.hang();
    try {
      const started = Date.now();
      expect(await a.roster.claim('r3', 'x', 'gone')).toEqual({ kind: 'unavailable' });
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      resume();
    }
    // Stopped: the removal fails (nothing reaches Redis) and is kept for the next tick.
    await until(() => a.link.state.up, 'link up again', 10_000);
    await redis!.shutdown();
    await until(() => !a.link.state.up, 'link down', 5000);
    a.rooms.leave('r3', 'p1');
    expect(await a.roster.claim('r3', 'x', 'gone')).toEqual({ kind: 'unavailable' });
    await redis!.start();
    // This test server keeps nothing across a restart (no persistence): put back what a persistent
    // one would still hold, the entry of p1 whose removal failed.
    await peek!.hset('sfu:roster:r3:da', 'p1', `${Date.now()}|student|who-p1`);
    await until(() => a.link.state.up, 'link up again', 10_000);
    await a.roster.tick();
    expect(await rosterOf('r3', 'da')).not.toHaveProperty('p1');
    expect(await rosterOf('r3', 'da')).toHaveProperty('p2');
    a.roster.stop();
  });
});
