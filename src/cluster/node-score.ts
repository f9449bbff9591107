/** What a node reports about its load in its presence record (docs/scaling.md, "Placement"). */
export interface NodeLoad {
  /** The live workers' mean CPU share (0..1, one core each), from the worker pool's last polls. */
  readonly cpu: number;
  /** Live consumers on the node. */
  readonly consumers: number;
  /** Open rooms on the node. */
  readonly rooms: number;
  /** Live mediasoup workers (one core each). */
  readonly workers: number;
}

/** A node as placement sees it: alive (its presence record has not expired), its URL, its drain state and its load. */
export interface NodeView {
  readonly node: string;
  readonly url: string;
  readonly draining: boolean;
  readonly load: NodeLoad;
}

/** Consumers one worker (one core) carries at full load: 400 1:1 sessions of 4 consumers each (bench/README.md). */
export const CONSUMERS_PER_WORKER = 1600;
/** Rooms one worker carries at full load: 400 1:1 sessions. */
export const ROOMS_PER_WORKER = 400;
/** Nodes whose score is within this many points of the lowest are equal candidates (one is picked at random). */
export const SCORE_BAND = 2;

/**
 * A node's load as a percentage of its capacity (lower is better): the largest of its measured
 * worker CPU (percent of a core per worker), its consumers and its rooms per worker against what
 * one core carries (CONSUMERS_PER_WORKER, ROOMS_PER_WORKER). The counts react at once (the CPU is
 * polled every few seconds), so a burst of rooms opened at the bell spreads before the CPU moves;
 * the CPU catches what the counts miss (video-heavy rooms, large groups). A node with no live
 * worker scores Infinity (it can host nothing).
 */
export function nodeScore(load: NodeLoad): number {
  if (load.workers <= 0) return Number.POSITIVE_INFINITY;
  const cpu = Math.max(0, load.cpu) * 100;
  const consumers = (load.consumers / load.workers / CONSUMERS_PER_WORKER) * 100;
  const rooms = (load.rooms / load.workers / ROOMS_PER_WORKER) * 100;
  return Math.max(cpu, consumers, rooms);
}

/**
 * Another node's load now, estimated by this node from that node's presence record, written some
 * time ago (up to one presence interval; its age is known to the millisecond, Redis's PTTL).
 * Like with like: this node's own load is known live, so the other's record is brought to the same
 * moment by assuming it grew since it was written as much as this node grew since then (`selfThen`
 * -> `selfNow`: the nodes of one cluster share a burst, which the load balancer spreads over them),
 * or, in rooms, by the rooms this node placed on it since then (`sentSince`) if those are more.
 * `sharesGrowth` false (its last records showed it growing only by what this node sent it, while
 * this node grew: it gets no first joins of its own) drops that assumption: the rooms sent only.
 * The CPU is the record's: every node's CPU reading is equally old (polled every few seconds).
 * Without this, a burst makes every node look busier to itself than the others, and almost every
 * first join is redirected (bench/README.md, "bench/cluster").
 */
export function estimateLoad(record: NodeLoad, selfThen: NodeLoad, selfNow: NodeLoad, sentSince: number, sharesGrowth = true): NodeLoad {
  const grown = (now: number, then: number) => (sharesGrowth ? Math.max(0, now - then) : 0);
  return {
    cpu: record.cpu,
    workers: record.workers,
    rooms: record.rooms + Math.max(grown(selfNow.rooms, selfThen.rooms), sentSince),
    consumers: record.consumers + grown(selfNow.consumers, selfThen.consumers),
  };
}

/**
 * Whether another node is taken to grow as this one does (estimateLoad's `sharesGrowth`), judged
 * over the interval between its last two records: false only when this node grew by at least
 * GROWTH_EVIDENCE rooms then while the other grew by itself (its rooms' growth less the rooms this
 * node sent it) by less than a quarter of that: its first joins do not come in as this node's do
 * (a load balancer sending most to this node). Without two records, or without that evidence: true.
 */
export function sharesGrowth(ownGrowth: number, selfGrowth: number): boolean {
  return !(selfGrowth >= GROWTH_EVIDENCE && ownGrowth < selfGrowth / 4);
}

/** Rooms this node must have grown by between another node's last two records to judge whether that one grows too. */
export const GROWTH_EVIDENCE = 8;

/**
 * The node a new room goes to: among live nodes that are not draining and can host (finite score),
 * those within SCORE_BAND of the lowest score. `local` (this node's id), when it is one of them,
 * is chosen: a room stays on the node its first join reached unless another node is clearly less
 * loaded (no redirect, no extra round trip). Otherwise one of them is picked with `random` (so
 * that nodes placing at the same moment from the same view do not all pick the same node).
 * Undefined when none qualifies.
 */
export function chooseNode(nodes: readonly NodeView[], random: () => number = Math.random, local?: string): NodeView | undefined {
  const open = nodes.filter((n) => !n.draining && Number.isFinite(nodeScore(n.load)));
  if (open.length === 0) return undefined;
  const best = Math.min(...open.map((n) => nodeScore(n.load)));
  const band = open.filter((n) => nodeScore(n.load) <= best + SCORE_BAND).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const here = local === undefined ? undefined : band.find((n) => n.node === local);
  return here ?? band[Math.min(band.length - 1, Math.floor(random() * band.length))];
}
