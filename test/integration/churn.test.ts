import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION } from '../helpers/ws-client.ts';
import { sendInOneWrite } from '../helpers/one-write.ts';
import { until } from '../helpers/until.ts';

// Churn: 2,000 connections into 100 rooms, most of them dropped at some point of their join.
// Afterwards the node must hold nothing: no room, no participant, no connection, in the
// registry, the admin API and the gauges alike.

const CONNECTS = 2000;
const CONCURRENCY = 25;
const ROOMS = 100;

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ signalling: { reconnectGraceSeconds: 0.2 }, rooms: { maxParticipants: 50 } }); });
afterAll(async () => { await srv.close(); });

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fate = 'no-join' | 'drop-with-join' | 'drop-soon-after-join' | 'join-then-close' | 'join-then-leave';
const FATES: Fate[] = ['no-join', 'drop-with-join', 'drop-soon-after-join', 'join-then-close', 'join-then-leave'];

async function one(i: number, rnd: () => number, outcomes: Map<string, number>): Promise<void> {
  const fate = FATES[Math.floor(rnd() * FATES.length)]!;
  const room = `churn-${Math.floor(rnd() * ROOMS)}`;
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, `user-${i}`, rnd() < 0.2 ? 'clinician' : 'student') });
  const join = { id: 1, method: 'join', data: { consent: TEST_CONSENT, location: TEST_LOCATION } };
  if (fate === 'no-join') {
    c.ws.terminate();
  } else if (fate === 'drop-with-join') {
    sendInOneWrite(c.ws, [join], { thenDestroy: true });
  } else if (fate === 'drop-soon-after-join') {
    sendInOneWrite(c.ws, [join]);
    await new Promise((r) => setImmediate(r));
    c.ws.terminate();
  } else {
    const res = await c.raw('join', {});
    outcomes.set(res.ok ? 'joined' : res.error.code, (outcomes.get(res.ok ? 'joined' : res.error.code) ?? 0) + 1);
    if (fate === 'join-then-leave' && res.ok) await c.raw('leave');
    c.ws.terminate();
  }
  await c.closeInfo;
}

async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('churn', () => {
  it(`${CONNECTS} connects with mid-join drops leave zero rooms, participants and connections`, async () => {
    const seed = Number(process.env.CHURN_SEED ?? 20261201);
    const rnd = prng(seed);
    const outcomes = new Map<string, number>();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < CONNECTS) await one(next++, rnd, outcomes);
    }));
    // Every full join went through (distinct identities, rooms far from full).
    expect([...outcomes.keys()]).toEqual(['joined']);
    await until(() => srv.handle.rooms.rooms.length === 0, `zero rooms (seed ${seed})`, 15_000);
    const admin = await (await fetch(`${srv.url}/admin/rooms`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json();
    expect(admin).toEqual({ rooms: [] });
    expect(await gauge('sfu_rooms')).toBe(0);
    expect(await gauge('sfu_participants')).toBe(0);
    await until(async () => (await gauge('sfu_signalling_connections')) === 0, 'zero connections');
    expect(await gauge('sfu_transports') + await gauge('sfu_producers') + await gauge('sfu_consumers')).toBe(0);
  }, 120_000);
});
