import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters, vp8Parameters } from '../helpers/ws-client.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
beforeAll(async () => { srv = await startServer({ forwarding: { openRooms: ['group-open'] } }); });
afterAll(async () => { await srv.close(); });

type Role = 'clinician' | 'student' | 'guardian' | 'observer';

async function member(room: string, identity: string, role: Role) {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role) });
  const info = await c.request('join', {});
  return { c, info };
}

/** Three simulcast encodings, as a browser sends a 720p camera. */
function simulcastVp8(base: number) {
  return {
    ...vp8Parameters(base),
    encodings: [4, 2, 1].map((scaleResolutionDownBy, i) => ({ ssrc: base + i, scaleResolutionDownBy, scalabilityMode: 'L1T3' })),
  };
}

async function publish(m: Awaited<ReturnType<typeof member>>, video: object) {
  const t = await m.c.request('createTransport', { direction: 'send' });
  const mic = await m.c.request('produce', { transportId: t.transportId, kind: 'audio', rtpParameters: opusParameters(m.info.participantId.length * 1000 + 7), source: 'mic' });
  const cam = await m.c.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: video, source: 'camera' });
  return { mic: mic.producerId as string, cam: cam.producerId as string };
}

/**
 * Opens `m`'s recv transport and waits for the `expected` newConsumer notifications the room sends
 * after the response (one per producer `m` may receive); returns every one received.
 */
async function subscribe(m: Awaited<ReturnType<typeof member>>, expected: number) {
  await m.c.request('createTransport', { direction: 'recv', rtpCapabilities: m.info.routerRtpCapabilities });
  const consumers = () => m.c.notifications.filter((n) => n.notification === 'newConsumer').map((n) => n.data);
  await until(() => consumers().length >= expected, `${expected} newConsumer notifications`, 5000);
  return consumers();
}

describe('forwarding policy by role (privacy)', () => {
  it('never creates a consumer against the policy: students do not receive each other by default', async () => {
    const room = 'group-1';
    const doc = await member(room, 'doc', 'clinician');
    const s1 = await member(room, 's1', 'student');
    const s2 = await member(room, 's2', 'student');
    const obs = await member(room, 'obs', 'observer');
    const p1 = await publish(s1, vp8Parameters(5000));
    const pd = await publish(doc, vp8Parameters(6000));
    const s2Consumers = await subscribe(s2, 2);
    expect(s2Consumers.map((c: any) => c.producerId).sort()).toEqual([pd.mic, pd.cam].sort());
    expect(new Set(s2Consumers.map((c: any) => c.participantId))).toEqual(new Set([doc.info.participantId]));
    const docConsumers = await subscribe(doc, 2);
    expect(docConsumers.map((c: any) => c.producerId).sort()).toEqual([p1.mic, p1.cam].sort());
    const obsConsumers = await subscribe(obs, 4);
    expect(obsConsumers.map((c: any) => c.producerId).sort()).toEqual([p1.mic, p1.cam, pd.mic, pd.cam].sort());
    // Server side: s2 holds no consumer of s1's producers.
    const s2p = srv.handle.rooms.get(room)!.participant(s2.info.participantId)!;
    expect([...s2p.consumers.values()].some((c) => c.producerId === p1.cam || c.producerId === p1.mic)).toBe(false);
    for (const m of [doc, s1, s2, obs]) m.c.close();
  });

  it('lets a room whose policy allows it share everything', async () => {
    const s1 = await member('group-open', 's1', 'student');
    const s2 = await member('group-open', 's2', 'student');
    const p1 = await publish(s1, vp8Parameters(7000));
    const got = await subscribe(s2, 2);
    expect(got.map((c: any) => c.producerId).sort()).toEqual([p1.mic, p1.cam].sort());
    s1.c.close(); s2.c.close();
  });
});

describe('per-subscriber layers and pausing', () => {
  it('pauses a hidden tile on the server, resumes it when visible, and picks the layer by size', async () => {
    const room = 'view-1';
    const kid = await member(room, 'kid', 'student');
    const doc = await member(room, 'doc', 'clinician');
    const pk = await publish(kid, simulcastVp8(9000));
    const consumers = await subscribe(doc, 2);
    const video = consumers.find((c: any) => c.producerId === pk.cam)!;
    const audio = consumers.find((c: any) => c.producerId === pk.mic)!;
    await doc.c.request('resumeConsumer', { consumerId: video.consumerId });
    const server = srv.handle.rooms.get(room)!.participant(doc.info.participantId)!;
    const consumer = server.consumer(video.consumerId);
    expect(consumer.type).toBe('simulcast');
    expect(consumer.priority).toBe(200); // a clinician's view of the student
    expect(server.consumer(audio.consumerId).priority).toBe(255); // audio first

    expect(await doc.c.request('setViewport', { consumerId: video.consumerId, width: 320, height: 180, visible: true })).toEqual({ paused: false, spatialLayer: 0 });
    expect(consumer.preferredLayers).toEqual({ spatialLayer: 0, temporalLayer: 2 });
    expect(await doc.c.request('setViewport', { consumerId: video.consumerId, width: 1280, height: 720, visible: true })).toEqual({ paused: false, spatialLayer: 2 });
    expect(consumer.preferredLayers).toEqual({ spatialLayer: 2, temporalLayer: 2 });

    expect(await doc.c.request('setViewport', { consumerId: video.consumerId, width: 640, height: 360, visible: false })).toEqual({ paused: true });
    expect(consumer.paused).toBe(true);
    expect(await (await fetch(`${srv.url}/metrics`)).text()).toMatch(/sfu_consumers_paused\{reason="hidden"\} 1/);
    // The client's own resume does not override a hidden tile.
    await doc.c.request('resumeConsumer', { consumerId: video.consumerId });
    expect(consumer.paused).toBe(true);
    expect(await doc.c.request('setViewport', { consumerId: video.consumerId, width: 640, height: 360, visible: true })).toEqual({ paused: false, spatialLayer: 1 });
    expect(consumer.paused).toBe(false);

    // Dynacast: the publisher was told how many layers anyone needs, as that changed.
    const needed = kid.c.notifications.filter((n) => n.notification === 'layersNeeded').map((n) => n.data.spatialLayers);
    expect(needed).toEqual([1, 3, 1, 3, 1, 2]);
    expect(kid.c.notifications.every((n) => n.notification !== 'layersNeeded' || n.data.producerId === pk.cam)).toBe(true);

    expect((await doc.c.raw('setViewport', { consumerId: audio.consumerId, width: 1, height: 1, visible: true })).error.code).toBe('INVALID_REQUEST');
    expect((await doc.c.raw('setViewport', { consumerId: 'nope', width: 1, height: 1, visible: true })).error.code).toBe('CONSUMER_NOT_FOUND');
    kid.c.close(); doc.c.close();
  });
});
