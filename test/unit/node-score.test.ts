import { describe, expect, it } from 'vitest';
import { chooseNode, nodeScore, SCORE_BAND, type NodeView } from '../../src/cluster/node-score.ts';
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
