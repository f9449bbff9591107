import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET } from '../../test/helpers/server.ts';
import { RtcClient } from '../../test/helpers/ws-client.ts';
import { safetyClient, type Transport } from '../../test/helpers/safety-client.ts';
import { percentile } from '../media/sink.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v * 100) / 100;

/**
 * Raise-to-responder latency on the panic channel, over WebSocket and over HTTP long-polling:
 * students raise alarms one after another (each in its own room), a desk client covering every room
 * receives them; an alarm counts as lost when the desk never sees it.
 */
export async function panicBench(opts: { raises: number; intervalMs: number }) {
  const srv = await startServer({ safety: { tiers: [{ afterSeconds: 0, notify: ['desk'] }] } });
  const out: Record<string, unknown> = { bench: 'panic', raises: opts.raises };
  try {
    for (const transport of ['websocket', 'polling'] as Transport[]) {
      const desk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: `desk-${transport}`, rooms: ['*'] }), transport);
      const latencies: number[] = [];
      let lost = 0;
      for (let i = 0; i < opts.raises; i++) {
        const room = `panic-${transport}-${i}`;
        const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid', 'student') });
        await c.request('join', {});
        const s = await safetyClient(srv.url, srv.mint(room, 'kid', 'student'), transport);
        const t0 = performance.now();
        const res = await s.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: `bench-${transport}-${i}` });
        try {
          await desk.waitFor('panic:alert', (d) => d.incident.id === res.data.incidentId, 5000);
          const hit = desk.events.find((e) => e.event === 'panic:alert' && e.data.incident.id === res.data.incidentId)!;
          latencies.push(hit.at - t0);
        } catch {
          lost++;
        }
        s.close();
        c.close();
        await sleep(opts.intervalMs);
      }
      desk.close();
      out[transport] = { p50Ms: ms(percentile(latencies, 50)), p99Ms: ms(percentile(latencies, 99)), maxMs: ms(Math.max(...latencies)), lost };
    }
    return out;
  } finally {
    await srv.close();
  }
}
