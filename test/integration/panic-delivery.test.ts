import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { RtcClient } from '../helpers/ws-client.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ safety: { tiers: [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }] } }); });
afterAll(async () => { await srv.close(); });

/**
 * A desk on engine.io long-polling that connects to /safety and then stops polling (a laptop
 * that went to sleep): the server holds what it sends to it until a poll that never comes.
 */
async function silentPollingDesk(url: string, token: string): Promise<void> {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
  const post = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: `40/safety,${JSON.stringify({ token })}`, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  expect(await post.text()).toBe('ok');
  // One poll for the namespace's connect answer (and the replay), then silence.
  expect(await (await fetch(`${base}&sid=${sid}`)).text()).toContain('40/safety');
}

describe('the raise reply waits for the alert to leave (bounded)', () => {
  it('a responder that stopped polling holds a raise reply at most 500 ms, and only once', async () => {
    const kidRtc = await RtcClient.connect(srv.wsUrl, { token: srv.mint('d-room', 'kid', 'student') });
    await kidRtc.request('join', {});
    const kid = await safetyClient(srv.url, srv.mint('d-room', 'kid', 'student'), 'websocket');
    const liveDesk = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-live', rooms: ['*'] }), 'polling');
    await silentPollingDesk(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-asleep', rooms: ['*'] }));
    await liveDesk.waitFor('panic:replayed');

    const timed = async (key: string) => {
      const t = performance.now();
      const res = await kid.send('panic:raise', { kind: 'safety', silent: true, clientIncidentId: key });
      expect(res.ok).toBe(true);
      return { ms: performance.now() - t, id: res.data.incidentId as string };
    };
    const first = await timed('delivery-key-1');
    const second = await timed('delivery-key-2');
    console.info(JSON.stringify({ measure: 'panic-reply-with-a-silent-polling-desk-ms', first: Math.round(first.ms), second: Math.round(second.ms) }));
    expect(first.ms).toBeGreaterThanOrEqual(490);
    expect(first.ms).toBeLessThan(1500); // 500 ms plus a loaded 2-core machine
    expect(second.ms).toBeLessThan(250);
    // The live long-polling desk got both (it was polling, so it never held a reply).
    await liveDesk.waitFor('panic:alert', (d) => d.incident.id === second.id);
    expect(liveDesk.events.filter((e) => e.event === 'panic:alert').map((e) => e.data.incident.id)).toEqual([first.id, second.id]);
    kid.close(); liveDesk.close(); kidRtc.close();
  });
});
