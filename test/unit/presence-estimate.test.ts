import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NodeLoad } from '../../src/cluster/node-score.ts';
import { encodePresence } from '../../src/cluster/presence-record.ts';
import { NodePresence, PRESENCE_READ_SCRIPT } from '../../src/cluster/presence.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/**
 * NodePresence's view (docs/scaling.md, "Placement"): another node's record, read with its
 * remaining TTL, is brought to now like with like (this node's own load when that record was
 * written, its growth since, the rooms it placed there since). A fake link stands for Redis;
 * performance.now() is faked so the record ages are exact.
 */

const TTL = 4000;
const load = (rooms: number): NodeLoad => ({ cpu: 0, consumers: 0, rooms, workers: 1 });
const record = (node: string, rooms: number) => encodePresence({ node, url: `http://${node}.test`, draining: false, load: load(rooms) });

function setup() {
  let rooms = 0;
  /** What the fake Redis answers to the read: node id -> [record or null, PTTL]. */
  const stored = new Map<string, [string | null, number]>();
  const removed: string[][] = [];
  const link = {
    key: (name: string) => `sfu:${name}`,
    setPx: async () => undefined,
    sadd: async () => undefined,
    srem: async (_key: string, members: readonly string[]) => void removed.push([...members]),
    smembers: async () => ['me', ...stored.keys()],
    eval: async (script: string, keys: readonly string[]) => {
      expect(script).toBe(PRESENCE_READ_SCRIPT);
      return keys.flatMap((k) => (k === 'sfu:node:me' ? [record('me', rooms), TTL] : (stored.get(k.slice('sfu:node:'.length)) ?? [null, -2])));
    },
  };
  const log = createLogger('info', new Writable({ write: (_c, _e, cb) => cb() }));
  const presence = new NodePresence({ link, nodeId: 'me', publicUrl: 'http://me.test', ttlMs: TTL, log, self: () => ({ draining: false, load: load(rooms) }) });
  const peer = (node: string) => presence.view().find((n) => n.node === node)?.load.rooms;
  return { presence, stored, removed, peer, setRooms: (n: number) => { rooms = n; } };
}

describe('NodePresence view: the others brought to now', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['performance'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('adds this node\'s growth since the record was written (its age from the PTTL), or the rooms sent there if more', async () => {
    const p = setup();
    p.setRooms(10);
    expect(p.presence.view().map((n) => n.node)).toEqual(['me']);
    vi.advanceTimersByTime(500);
    p.setRooms(20);
    p.presence.view(); // this node had 20 rooms at t=500
    vi.advanceTimersByTime(500);
    p.setRooms(30);
    // B wrote its record 500 ms ago (t=500) with 20 rooms; C wrote 900 ms ago (t=100) with 5.
    p.stored.set('b', [record('b', 20), TTL - 500]);
    p.stored.set('c', [record('c', 5), TTL - 900]);
    await p.presence.tick();
    p.setRooms(34);
    // B: 20 + (34 - 20) since t=500. C: 5 + (34 - 10) since t=100 (this node had 10 then).
    expect(p.peer('b')).toBe(34);
    expect(p.peer('c')).toBe(29);
    // The view's first entry is this node, live.
    expect(p.presence.view()[0]).toMatchObject({ node: 'me', load: { rooms: 34 } });
    // Rooms placed on B since its record: 20 of them count more than this node's growth (14).
    for (let i = 0; i < 20; i++) p.presence.placedOn('b');
    expect(p.peer('b')).toBe(40);
    expect(p.peer('c')).toBe(29);
  });

  it('a record written after a room was sent there counts it no more; an expired record drops the node', async () => {
    const p = setup();
    p.setRooms(3);
    p.presence.view();
    p.stored.set('b', [record('b', 7), TTL]);
    await p.presence.tick();
    vi.advanceTimersByTime(1);
    p.presence.placedOn('b');
    p.presence.placedOn('b');
    expect(p.peer('b')).toBe(9);
    vi.advanceTimersByTime(1000);
    // B's next record (written 200 ms ago, after both placements) already holds them.
    p.stored.set('b', [record('b', 9), TTL - 200]);
    await p.presence.tick();
    expect(p.peer('b')).toBe(9);
    p.stored.set('b', [null, -2]);
    await p.presence.tick();
    expect(p.peer('b')).toBeUndefined();
    expect(p.removed).toEqual([['b']]);
  });

  /**
   * This node takes 40 rooms and sends 10 of them to B within a second; B's next record (written
   * 100 ms before it is read, at t=900) holds `bSecond` rooms; then this node grows to 60.
   */
  async function burstHereWith(bSecond: number) {
    const p = setup();
    p.setRooms(0);
    p.stored.set('b', [record('b', 0), TTL]);
    await p.presence.tick();
    vi.advanceTimersByTime(500);
    p.setRooms(40);
    p.presence.view();
    for (let i = 0; i < 10; i++) p.presence.placedOn('b');
    vi.advanceTimersByTime(500);
    p.stored.set('b', [record('b', bSecond), TTL - 100]);
    await p.presence.tick();
    vi.advanceTimersByTime(100);
    p.setRooms(60);
    return p;
  }

  it('a node whose last two records show no growth of its own while this node grew (all first joins come here): only the rooms sent there', async () => {
    const p = await burstHereWith(10);
    // B grew by itself by 0 of this node's 40: it is not assumed to grow as this node did since (20 more rooms).
    expect(p.peer('b')).toBe(10);
    p.presence.placedOn('b');
    expect(p.peer('b')).toBe(11);
  });

  it('a node that grew by itself meanwhile is assumed to share this node\'s growth', async () => {
    const p = await burstHereWith(30);
    // B grew by 20 by itself (30 less the 10 sent). Written at t=900, when this node had 40 (sampled at t=500); grown 20 since: 30 + 20.
    expect(p.peer('b')).toBe(50);
  });

  it('a view older than the TTL holds only this node', async () => {
    const p = setup();
    p.stored.set('b', [record('b', 0), TTL]);
    await p.presence.tick();
    expect(p.peer('b')).toBe(0);
    vi.advanceTimersByTime(TTL + 1);
    expect(p.presence.view().map((n) => n.node)).toEqual(['me']);
  });
});
