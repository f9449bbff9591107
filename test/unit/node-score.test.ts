import { describe, expect, it } from 'vitest';
import { chooseNode, estimateLoad, GROWTH_EVIDENCE, nodeScore, SCORE_BAND, sharesGrowth, type NodeView } from '../../src/cluster/node-score.ts';
import { decodePresence, encodePresence } from '../../src/cluster/presence-record.ts';

const node = (name: string, load: Partial<NodeView['load']> = {}, draining = false): NodeView => ({
  node: name, url: `https://${name}.example`, draining, load: { cpu: 0, consumers: 0, rooms: 0, workers: 2, ...load },
});

describe('nodeScore', () => {
  it('is the largest of worker CPU, consumers and rooms per worker, in percent of one core\'s capacity', () => {
    expect(nodeScore(node('a').load)).toBe(0);
    expect(nodeScore(node('a', { cpu: 0.5 }).load)).toBe(50);
    // 1,600 consumers per worker is a full core: 800 on 2 workers is 25 %.
    expect(nodeScore(node('a', { consumers: 800 }).load)).toBe(25);
    // 400 rooms per worker is a full core: 200 rooms on 2 workers is 25 %.
    expect(nodeScore(node('a', { rooms: 200 }).load)).toBe(25);
    expect(nodeScore(node('a', { cpu: 0.1, consumers: 800, rooms: 400 }).load)).toBe(50);
  });

  it('is Infinity for a node without a live worker', () => {
    expect(nodeScore(node('a', { workers: 0 }).load)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('chooseNode', () => {
  it('picks the lowest score', () => {
    const nodes = [node('a', { cpu: 0.4 }), node('b', { cpu: 0.1 }), node('c', { rooms: 400 })];
    expect(chooseNode(nodes, () => 0)?.node).toBe('b');
    expect(chooseNode(nodes, () => 0.999)?.node).toBe('b');
  });

  it('skips draining nodes and nodes without workers; none left: undefined', () => {
    const nodes = [node('a', {}, true), node('b', { workers: 0 }), node('c', { cpu: 0.9 })];
    expect(chooseNode(nodes)?.node).toBe('c');
    expect(chooseNode([node('a', {}, true), node('b', { workers: 0 })])).toBeUndefined();
    expect(chooseNode([])).toBeUndefined();
  });

  it('spreads among nodes within the score band (random pick, stable order)', () => {
    const nodes = [node('c', { cpu: 0.01 }), node('a'), node('b', { cpu: (SCORE_BAND - 0.5) / 100 }), node('d', { cpu: (SCORE_BAND + 1) / 100 })];
    expect(chooseNode(nodes, () => 0)?.node).toBe('a');
    expect(chooseNode(nodes, () => 0.4)?.node).toBe('b');
    expect(chooseNode(nodes, () => 0.99)?.node).toBe('c');
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(chooseNode(nodes)!.node);
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('chooseNode with this node preferred', () => {
  it('keeps the room here while this node is within the band of the lowest', () => {
    // 1 worker: 4 rooms are 1 point. Here 8 rooms (2 points) against 0 and 1: within the band.
    const nodes = [node('here', { rooms: 8, workers: 1 }), node('b', { workers: 1 }), node('c', { rooms: 4, workers: 1 })];
    for (const r of [0, 0.5, 0.999]) expect(chooseNode(nodes, () => r, 'here')?.node).toBe('here');
    // Without the preference, a random pick among the band.
    expect(chooseNode(nodes, () => 0.999)?.node).toBe('here');
    expect(chooseNode(nodes, () => 0)?.node).toBe('b');
  });

  it('sends the room to a clearly less loaded node (random among the band of the lowest), never to a draining one', () => {
    const nodes = [node('here', { rooms: 9, workers: 1 }), node('b', { workers: 1 }), node('c', { rooms: 4, workers: 1 }), node('d', {}, true)];
    expect(chooseNode(nodes, () => 0, 'here')?.node).toBe('b');
    expect(chooseNode(nodes, () => 0.999, 'here')?.node).toBe('c');
    expect(chooseNode([node('here', { rooms: 100, workers: 1 }), node('d', {}, true)], () => 0, 'here')?.node).toBe('here');
    // This node draining: never itself.
    expect(chooseNode([node('here', {}, true), node('b', { rooms: 100 })], () => 0, 'here')?.node).toBe('b');
  });
});

describe('estimateLoad (another node now, from its record)', () => {
  const load = (rooms: number, consumers = 0, cpu = 0) => ({ cpu, consumers, rooms, workers: 1 });

  it('adds what this node grew since the record was written: in an even burst every node looks as loaded as this one', () => {
    // Both had 100 rooms when B wrote its record; this node took 40 more since: B is assumed to have too.
    const b = estimateLoad(load(100, 400, 0.1), load(100, 400), load(140, 560, 0.3), 0);
    expect(b).toEqual({ cpu: 0.1, workers: 1, rooms: 140, consumers: 560 });
    const here = node('here', load(140, 560, 0.3));
    expect(chooseNode([here, node('b', b), node('c', estimateLoad(load(98), load(100), load(140), 0))], () => 0.999, 'here')?.node).toBe('here');
    // Against the records as written (the old view), this node looked 10 points busier and sent the room away.
    expect(chooseNode([here, node('b', load(100, 400, 0.1)), node('c', load(98))], () => 0, 'here')?.node).not.toBe('here');
  });

  it('counts the rooms this node sent there since, when more than its own growth; never less than the record', () => {
    expect(estimateLoad(load(10), load(50), load(52), 7).rooms).toBe(17);
    expect(estimateLoad(load(10), load(50), load(52), 1).rooms).toBe(12);
    // This node shrank (rooms closed): the record as written.
    expect(estimateLoad(load(10, 40), load(50, 200), load(30, 120), 0)).toEqual(load(10, 40));
  });

  it('without shared growth (a node that gets no first joins of its own): only the rooms sent there', () => {
    expect(estimateLoad(load(10, 40), load(50, 200), load(90, 360), 7, false)).toEqual(load(17, 40));
    expect(estimateLoad(load(10, 40), load(50, 200), load(90, 360), 0, false)).toEqual(load(10, 40));
  });

  it('shared growth is assumed unless this node grew clearly while the other grew by less than a quarter of that by itself', () => {
    expect(sharesGrowth(0, GROWTH_EVIDENCE)).toBe(false);
    expect(sharesGrowth(GROWTH_EVIDENCE * 10 / 4 - 1, GROWTH_EVIDENCE * 10)).toBe(false);
    expect(sharesGrowth(GROWTH_EVIDENCE * 10 / 4, GROWTH_EVIDENCE * 10)).toBe(true);
    // Too little growth here to judge (a quiet cluster, or the first records of a burst): assumed.
    expect(sharesGrowth(0, GROWTH_EVIDENCE - 1)).toBe(true);
    expect(sharesGrowth(-3, 0)).toBe(true);
  });

  it('a clearly less loaded node stays less loaded in the estimate, and gets the rooms', () => {
    // C had 0 rooms when it wrote; this node had 120 then and has 125 now.
    const c = estimateLoad(load(0), load(120), load(125), 3);
    expect(c.rooms).toBe(5);
    expect(chooseNode([node('here', load(125)), node('b', estimateLoad(load(118), load(120), load(125), 0)), node('c', c)], () => 0.5, 'here')?.node).toBe('c');
  });
});

describe('presence records', () => {
  it('round-trip, and anything else is refused', () => {
    const n = node('node-a', { cpu: 0.1234, consumers: 7, rooms: 3 }, true);
    expect(decodePresence(encodePresence(n))).toEqual({ ...n, load: { ...n.load, cpu: 0.123 } });
    expect(decodePresence('not json')).toBeUndefined();
    expect(decodePresence(JSON.stringify({ v: 2 }))).toBeUndefined();
    expect(decodePresence(JSON.stringify({ ...JSON.parse(encodePresence(n)), url: 'javascript:alert(1)' }))).toBeUndefined();
    expect(decodePresence(JSON.stringify({ ...JSON.parse(encodePresence(n)), extra: 1 }))).toBeUndefined();
    expect(decodePresence('x'.repeat(5000))).toBeUndefined();
  });
});
