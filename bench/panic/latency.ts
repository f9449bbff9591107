import { loadavg } from 'node:os';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../../test/helpers/server.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { safetyClient, type SafetyClient, type Transport } from '../../test/helpers/safety-client.ts';
import { MediaLoad, type MediaLoadFigures } from '../lib/media-load.ts';
import { percentile } from '../media/sink.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v * 100) / 100;

export interface RaiseFigures {
  readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly raises: number; readonly lost: number;
  /** The first raise of the run (store hung: the one that finds out, waiting safety.storeDeadlineMs). */
  readonly firstMs?: number;
}

/**
 * Raise-to-responder latency on the panic channel, over WebSocket and over HTTP long-polling:
 * students (each joined in its own room beforehand) raise alarms one after another, a desk
 * client covering every room receives them; an alarm counts as lost when the desk never sees it
 * (within 5 s). Measured twice on the same server: unloaded, then while a media load
 * (bench/lib/media-load.ts) keeps the server's own mediasoup worker at `load.targetPercent`+ of
 * its core (the worker pinned to core 0; the server, the clients and the load's generator and
 * sink on core 1).
 */
export async function panicBench(opts: {
  raises: number;
  intervalMs: number;
  load?: { raises: number; initialConsumers: number; targetPercent: number; maxConsumers: number; calibrationSteps: number; stepMs: number };
  log?: (line: string) => void;
}) {
  const srv = await startServer({ media: { workers: 1 }, safety: { tiers: [{ afterSeconds: 0, notify: ['desk'] }] } });
  const loadAtStart = loadavg()[0]!;
  const out: Record<string, unknown> = { bench: 'panic', raises: opts.raises };
  try {
    for (const transport of ['websocket', 'polling'] as Transport[]) {
      out[transport] = await measureRaises(srv, transport, opts.raises, opts.intervalMs, 'idle');
    }
    if (opts.load) {
      const l = opts.load;
      const media = await MediaLoad.start(srv.handle.pool, { maxSeconds: 120 });
      try {
        await media.calibrate({ initial: l.initialConsumers, targetPercent: l.targetPercent, maxConsumers: l.maxConsumers, stepMs: l.stepMs, maxSteps: l.calibrationSteps, budgetMs: l.calibrationSteps * (l.stepMs + 3000), ...(opts.log ? { log: opts.log } : {}) });
        const loaded: Record<string, RaiseFigures | MediaLoadFigures | number> = { targetWorkerCpuPercent: l.targetPercent };
        await media.beginWindow();
        for (const transport of ['websocket', 'polling'] as Transport[]) {
          loaded[transport] = await measureRaises(srv, transport, l.raises, opts.intervalMs, 'loaded');
        }
        loaded.mediaLoad = await media.endWindow();
        out.underMediaLoad = loaded;
      } finally {
        await media.stop();
      }
    }
    out.p99TargetMs = 50;
    out.loadAverage1m = { atStart: loadAtStart, atEnd: loadavg()[0]! };
    return out;
  } finally {
    await srv.close();
  }
}

/**
 * Prepares `raises` students (each joined in its own room, with its panic channel open) in batches,
 * then raises their alarms one after another `intervalMs` apart, each timed from the raise to the
 * desk receiving it.
 */
async function measureRaises(srv: TestServer, transport: Transport, raises: number, intervalMs: number, tag: string): Promise<RaiseFigures> {
  const prepared = await prepareRaisers(srv, transport, raises, tag);
  try {
    return await raiseAll(prepared, intervalMs);
  } finally {
    prepared.close();
  }
}

interface Prepared { transport: Transport; tag: string; desk: SafetyClient; raisers: { c: RtcClient; s: SafetyClient }[]; ids: string[]; close(): void }

/** A desk and `raises` students, each joined in its own room (consent and location stored), with its panic channel open. */
async function prepareRaisers(srv: TestServer, transport: Transport, raises: number, tag: string): Promise<Prepared> {
  const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: `desk-${tag}-${transport}`, rooms: ['*'] }), transport);
  const raisers: { c: RtcClient; s: SafetyClient }[] = [];
  const close = () => {
    for (const { c, s } of raisers) {
      s.close();
      c.close();
    }
    desk.close();
  };
  try {
    for (let i = 0; i < raises; i += 10) {
      raisers.push(...await Promise.all(Array.from({ length: Math.min(10, raises - i) }, async (_, k) => {
        const room = `panic-${tag}-${transport}-${i + k}`;
        const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
        await c.request('join', {});
        return { c, s: await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), transport) };
      })));
    }
  } catch (err) {
    close();
    throw err;
  }
  return { transport, tag, desk, raisers, ids: [], close };
}

/** Raises every prepared student's alarm, one after another `intervalMs` apart, each timed from the raise to the desk's alert. */
async function raiseAll(p: Prepared, intervalMs: number): Promise<RaiseFigures> {
  const latencies: number[] = [];
  let lost = 0;
  for (const [i, { s }] of p.raisers.entries()) {
    const t0 = performance.now();
    const res = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `bench-${p.tag}-${p.transport}-${i}` });
    try {
      p.ids.push(res.data.incidentId);
      await p.desk.waitFor('panic:alert', (d) => d.incident.id === res.data.incidentId, 5000);
      const hit = p.desk.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === res.data.incidentId)!;
      latencies.push(hit.at - t0);
    } catch {
      lost++;
    }
    await sleep(intervalMs);
  }
  return { p50Ms: ms(percentile(latencies, 50)), p99Ms: ms(percentile(latencies, 99)), maxMs: ms(Math.max(...latencies)), raises: p.raisers.length, lost, firstMs: ms(latencies[0] ?? 0) };
}

/**
 * The "store hung" line: raise-to-desk latency while the PostgreSQL store is stopped with SIGSTOP
 * (a hung database: connections open, nothing answers). The students join and open their panic
 * channels before the hang (a join needs the store); then the server (one worker, store.url on a
 * throwaway PostgreSQL on 127.0.0.1, test/helpers/postgres.ts) gets their alarms one after another
 * over WebSocket, then long-polling. Afterwards the server is resumed and every alarm must reach
 * the store from the panic spool (`lostAfterRecovery`). Goal: p99 < 250 ms, 0 lost.
 */
export async function storeHungBench(opts: { raises: number; intervalMs: number }) {
  const { startPostgres } = await import('../../test/helpers/postgres.ts');
  const pg = await startPostgres();
  if (!pg) return { skipped: 'PostgreSQL could not be started (see the warning above)' };
  const out: Record<string, unknown> = { store: 'postgres', raises: opts.raises, p99TargetMs: 250 };
  let resume: (() => void) | undefined;
  try {
    const srv = await startServer({ media: { workers: 1 }, store: { url: pg.url }, safety: { tiers: [{ afterSeconds: 0, notify: ['desk'] }] } });
    const prepared: Prepared[] = [];
    try {
      for (const transport of ['websocket', 'polling'] as Transport[]) prepared.push(await prepareRaisers(srv, transport, opts.raises, 'hung'));
      resume = pg.hang();
      const hungAt = performance.now();
      for (const p of prepared) out[p.transport] = await raiseAll(p, opts.intervalMs);
      out.hungMs = Math.round(performance.now() - hungAt);
      resume();
      // Every alarm reaches the store once it answers again (from the panic spool).
      const ids = prepared.flatMap((p) => p.ids);
      const deadline = Date.now() + 30_000;
      let missing = ids.length;
      while (Date.now() < deadline) {
        missing = 0;
        for (const id of ids) if (!(await srv.handle.store.incidents.get(id).catch(() => undefined))) missing++;
        if (missing === 0) break;
        await sleep(200);
      }
      out.recoveredInMs = Math.round(performance.now() - hungAt - (out.hungMs as number));
      out.lostAfterRecovery = missing;
    } finally {
      for (const p of prepared) p.close();
      resume?.();
      await srv.close();
    }
  } finally {
    resume?.();
    pg.stop();
  }
  return out;
}
