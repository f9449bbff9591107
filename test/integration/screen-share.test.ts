import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, opusParameters } from '../helpers/ws-client.ts';
import { CHROME_VP8_SIMULCAST } from '../helpers/media-shapes.ts';

/**
 * The `screen` source on the server (issue #15): one screen producer per participant (a second is
 * PRODUCER_LIMIT; after closeProducer it can be produced again), a token whose publish set leaves
 * `screen` out gets PERMISSION_DENIED, and the screen consumer's layer follows its tile with the
 * screen's own thresholds (a thumbnail: layer 0; any larger tile: the top layer, where a camera
 * tile of the same height gets a middle one). The browser side: test/e2e/screen-share.test.ts.
 */
let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv.close(); });

async function joined(room: string, identity: string, role: 'clinician' | 'student', extra = {}) {
  const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, identity, role, extra) });
  const info = await c.request('join', { displayName: identity });
  return { c, info };
}

/** A screen's simulcast parameters as Chromium sends them (three rids, the screen's bitrates), with its own msid. */
function screenParameters(mid: string) {
  return {
    ...CHROME_VP8_SIMULCAST,
    mid,
    msid: `screen-${mid} track-${mid}`,
    encodings: CHROME_VP8_SIMULCAST.encodings.map((e, i) => ({ ...e, rid: `s${i}`, maxBitrate: [150_000, 600_000, 2_500_000][i] })),
  };
}

describe('the screen source', () => {
  it('one screen producer per participant; closing it lets the next one through; subscribers follow', async () => {
    const clin = await joined('screen-1', 'clin', 'clinician');
    const stu = await joined('screen-1', 'stu', 'student');
    const send = await clin.c.request('createTransport', { direction: 'send' });
    await stu.c.request('createTransport', { direction: 'recv', rtpCapabilities: stu.info.routerRtpCapabilities });
    const camera = await clin.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: { ...CHROME_VP8_SIMULCAST, mid: '1' }, source: 'camera' });
    const screen = await clin.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: screenParameters('2'), source: 'screen' });
    const offered = await stu.c.waitFor('newConsumer', (d) => d.producerId === screen.producerId);
    expect(offered).toMatchObject({ kind: 'video', source: 'screen', participantId: clin.info.participantId });
    const cameraOffer = await stu.c.waitFor('newConsumer', (d) => d.producerId === camera.producerId);

    const second = await clin.c.raw('produce', { transportId: send.transportId, kind: 'video', rtpParameters: screenParameters('3'), source: 'screen' });
    expect(second.ok ? 'ok' : second.error.code).toBe('PRODUCER_LIMIT');

    // Layers: a filmstrip thumbnail gets layer 0; a 300-px-high tile gets the screen's top layer
    // (a camera tile of that height: layer 1).
    expect(await stu.c.request('setViewport', { consumerId: offered.consumerId, width: 192, height: 108, visible: true })).toMatchObject({ spatialLayer: 0 });
    expect(await stu.c.request('setViewport', { consumerId: offered.consumerId, width: 533, height: 300, visible: true })).toMatchObject({ spatialLayer: 2 });
    expect(await stu.c.request('setViewport', { consumerId: cameraOffer.consumerId, width: 533, height: 300, visible: true })).toMatchObject({ spatialLayer: 1 });

    await clin.c.request('closeProducer', { producerId: screen.producerId });
    await stu.c.waitFor('consumerClosed', (d) => d.consumerId === offered.consumerId);
    const again = await clin.c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: screenParameters('3'), source: 'screen' });
    await stu.c.waitFor('newConsumer', (d) => d.producerId === again.producerId);
    clin.c.close(); stu.c.close();
  });

  it('a token whose publish set leaves screen out is refused with PERMISSION_DENIED', async () => {
    const stu = await joined('screen-2', 'stu', 'student', { publish: ['mic', 'camera'] });
    expect(stu.info.permissions.publish).toEqual(['mic', 'camera']);
    const send = await stu.c.request('createTransport', { direction: 'send' });
    const res = await stu.c.raw('produce', { transportId: send.transportId, kind: 'video', rtpParameters: screenParameters('1'), source: 'screen' });
    expect(res.ok ? 'ok' : res.error.code).toBe('PERMISSION_DENIED');
    await stu.c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
    stu.c.close();
  });
});
