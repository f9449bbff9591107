import { loadavg } from 'node:os';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../../test/helpers/server.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { safetyClient, type SafetyClient, type Transport } from '../../test/helpers/safety-client.ts';
import { MediaLoad, type MediaLoadFigures } from '../lib/media-load.ts';
import { percentile } from '../media/sink.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v * 100) / 100;

export interface RaiseFigures { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly raises: number; readonly lost: number }

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
  const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: `desk-${tag}-${transport}`, rooms: ['*'] }), transport);
  const raisers: { c: RtcClient; s: SafetyClient }[] = [];
  const latencies: number[] = [];
  let lost = 0;
  try {
    for (let i = 0; i < raises; i += 10) {
      raisers.push(...await Promise.all(Array.from({ length: Math.min(10, raises - i) }, async (_, k) => {
        const room = `panic-${tag}-${transport}-${i + k}`;
        const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
        await c.request('join', {});
        return { c, s: await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), transport) };
      })));
    }
    for (const [i, { s }] of raisers.entries()) {
      const t0 = performance.now();
      const res = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `bench-${tag}-${transport}-${i}` });
      try {
        await desk.waitFor('panic:alert', (d) => d.incident.id === res.data.incidentId, 5000);
        const hit = desk.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === res.data.incidentId)!;
        latencies.push(hit.at - t0);
      } catch {
        lost++;
      }
      await sleep(intervalMs);
    }
  } finally {
    for (const { c, s } of raisers) {
      s.close();
      c.close();
    }
    desk.close();
  }
  return { p50Ms: ms(percentile(latencies, 50)), p99Ms: ms(percentile(latencies, 99)), maxMs: ms(Math.max(...latencies)), raises, lost };
}
