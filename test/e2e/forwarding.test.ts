import { describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.ts';
import {
  chromiumFor,
  frameWidthFrom,
  openClient,
  pollUntil,
  setTile,
  waitForMediaFlow,
  waitForState,
  useServerAndBrowser,
  videoFrom,
  type ClientPage,
  type OutboundStat,
} from '../helpers/browser.ts';
import { observeFor } from '../helpers/until.ts';

/**
 * Selective forwarding seen from real Chromium pages: the page reports each tile's size and
 * visibility, the server picks the layer (small tile: low layer, large tile: high layer, hidden
 * tile: nothing), the publisher stops encoding layers nobody needs, and two students never get
 * each other's media (the default policy) while the clinician gets both.
 */
const available = chromiumFor('the forwarding e2e tests');

function link(server: TestServer, room: string, identity: string, role: 'clinician' | 'student') {
  return { token: server.mint(room, identity, role), policy: server.handle.config.consent.policyVersions[0]! };
}

/** The page's camera upload in bit/s over `ms`, per encoding (rid, or "svc"). */
async function uploadRate(client: ClientPage, ms = 2000): Promise<{ total: number; streams: (OutboundStat & { bps: number })[] }> {
  const a = await client.outboundStats();
  await observeFor(ms); // the measurement window
  const b = await client.outboundStats();
  const streams = b.map((s) => {
    const before = a.find((x) => x.id === s.id);
    return { ...s, bps: Math.round(((s.bytesSent - (before?.bytesSent ?? 0)) * 8 * 1000) / ms) };
  });
  return { total: streams.reduce((n, s) => n + s.bps, 0), streams };
}

/** Waits until the upload of the encodings `rids` has stopped: their byte counters no longer grow. */
function stoppedSending(client: ClientPage, rids: readonly string[]) {
  let previous: OutboundStat[] | undefined;
  return pollUntil(`${client.name}: encodings ${rids.join(', ')} to stop sending`, async () => {
    const before = previous;
    previous = await client.outboundStats();
    return previous.filter((e) => rids.includes(e.rid ?? '')).map((e) => ({ rid: e.rid, grew: before === undefined || e.bytesSent !== before.find((b) => b.id === e.id)?.bytesSent }));
  }, (streams) => streams.length === rids.length && streams.every((e) => !e.grew));
}

/** Waits until `viewer` has stopped receiving `publisherId`'s video: bytesReceived no longer grows. */
function stoppedReceiving(viewer: ClientPage, publisherId: string) {
  let bytes = -1;
  return pollUntil(`${viewer.name}: no more video bytes from ${publisherId}`, async () => {
    const s = await videoFrom(viewer, publisherId);
    const grew = s === undefined || s.bytesReceived !== bytes;
    bytes = s?.bytesReceived ?? -1;
    return { stat: s, grew };
  }, ({ grew }) => !grew, { context: () => viewer.logs.slice(-15).join('\n') });
}

async function metric(server: TestServer, line: RegExp): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? Number.NaN);
}

describe.skipIf(!available)('forwarding in Chromium: VP8 simulcast, a clinician and two students', () => {
  const env = useServerAndBrowser({ media: { bitrateSampleSeconds: 1 } });
  const ROOM = 'e2e-forwarding';
  let clinician: ClientPage;
  let studentA: ClientPage;
  let studentB: ClientPage;
  const ids: Record<string, string> = {};

  it('small tile: low layer; large tile: high layer; the publisher stops sending what nobody needs', async () => {
    [clinician, studentA, studentB] = await Promise.all([
      openClient(env.browser, env.server.url, 'clinician', link(env.server, ROOM, 'clin-1', 'clinician')),
      openClient(env.browser, env.server.url, 'studentA', link(env.server, ROOM, 'stu-a', 'student')),
      openClient(env.browser, env.server.url, 'studentB', link(env.server, ROOM, 'stu-b', 'student')),
    ]);
    await Promise.all([clinician, studentA, studentB].map((c) => waitForState(c, 'joined')));
    for (const c of [clinician, studentA, studentB]) ids[c.name] = (await c.participantId())!;
    await Promise.all([waitForMediaFlow(clinician, { minVideo: 2 }), waitForMediaFlow(studentA), waitForMediaFlow(studentB)]);

    // Each student's stage holds the clinician (the only face they get), whoever speaks: the other
    // student's tile has no picture for them and never takes the stage (it used to when that student
    // was the active speaker, leaving the clinician in a 208-px filmstrip tile).
    for (const s of [studentA, studentB]) {
      expect(await s.page.evaluate(`document.querySelector('#stage [data-participant-id="${ids.clinician}"]') !== null`)).toBe(true);
    }
    // Student B looks away (hidden tile); student A draws the clinician large: all three layers needed.
    await setTile(studentB, ids.clinician!, 'hidden');
    await setTile(studentA, ids.clinician!, 1280);
    const top = await pollUntil('the clinician to send its top encoding', () => clinician.outboundStats(),
      (s) => s.some((e) => e.rid === 'r2' && e.active !== false && (e.frameWidth ?? 0) > 640), { timeoutMs: 20_000 });
    const topWidth = top.find((e) => e.rid === 'r2')!.frameWidth!;
    const large = await frameWidthFrom(studentA, ids.clinician!, `a large tile gets the top layer (${topWidth} wide)`, (w) => w === topWidth);
    const allLayers = await uploadRate(clinician);

    // A small tile (256x144): the low layer (320x180 from a 1280x720 capture).
    await setTile(studentA, ids.clinician!, 256);
    const small = await frameWidthFrom(studentA, ids.clinician!, 'a small tile gets the low layer', (w) => w > 0 && w <= topWidth / 4 + 1);
    // Nobody needs more than the low layer now: the clinician's browser disables r1 and r2.
    await pollUntil('the clinician to disable its upper encodings', () => clinician.outboundStats(),
      (s) => s.filter((e) => e.rid === 'r1' || e.rid === 'r2').every((e) => e.active === false));
    // Settled before measuring: the disabled encodings' last frames are out.
    await stoppedSending(clinician, ['r1', 'r2']);
    const lowOnly = await uploadRate(clinician);
    console.log(`[e2e forwarding] large tile: ${large.width} px wide; small tile: ${small.width} px; clinician upload `
      + `${allLayers.total} bit/s with all layers needed -> ${lowOnly.total} bit/s with only the low layer needed `
      + `(${Math.round((1 - lowOnly.total / allLayers.total) * 100)} % saved); per encoding `
      + `${JSON.stringify(allLayers.streams.map((s) => [s.rid, s.bps]))} -> ${JSON.stringify(lowOnly.streams.map((s) => [s.rid, s.bps]))}`);
    expect(lowOnly.total).toBeLessThan(allLayers.total / 2);

    // Drawn large again: the encodings come back and the viewer moves up from the low layer (how
    // fast it reaches the top depends on the bandwidth estimate ramping up again: logged, not asserted).
    await setTile(studentA, ids.clinician!, 1280);
    await pollUntil('the clinician to enable its upper encodings again', () => clinician.outboundStats(),
      (s) => s.filter((e) => e.rid === 'r1' || e.rid === 'r2').every((e) => e.active === true));
    const grownAt = Date.now();
    await frameWidthFrom(studentA, ids.clinician!, 'a higher layer after growing the tile', (w) => w > small.width);
    const top2 = await frameWidthFrom(studentA, ids.clinician!, 'the top layer again', (w) => w === topWidth, 10_000).catch(() => undefined);
    console.log(`[e2e forwarding] after growing the tile: ${top2 ? `top layer again in ${Date.now() - grownAt} ms` : 'not at the top layer within 10 s (bandwidth estimate still ramping)'}`);
  }, 120_000);

  it('a hidden tile receives no bytes, and shows video again when it is visible', async () => {
    await setTile(studentA, ids.clinician!, 'hidden');
    // The page reports the hidden tile (debounced) and the server pauses that consumer: both hidden
    // tiles (student B's from the first test, and this one) are paused there.
    const hiddenPaused = () => metric(env.server, /sfu_consumers_paused\{reason="hidden"\} (\d+)/);
    await pollUntil('the server to pause both hidden tiles\' consumers', hiddenPaused, (n) => n === 2);
    // Packets already on their way arrive: settled once the byte counter stops growing.
    const before = (await stoppedReceiving(studentA, ids.clinician!)).stat;
    await observeFor(2000); // deliberate: a hidden tile receives nothing in this window
    const after = await videoFrom(studentA, ids.clinician!);
    expect(after!.bytesReceived - before!.bytesReceived).toBe(0);
    expect(await hiddenPaused()).toBe(2);

    await setTile(studentA, ids.clinician!, 640);
    await frameWidthFrom(studentA, ids.clinician!, 'video again after showing the tile', (w) => w > 0);
  }, 60_000);

  it('the two students never get a consumer of each other; the clinician gets both', async () => {
    for (const [viewer, other] of [[studentA, studentB], [studentB, studentA]] as const) {
      expect(await viewer.remoteParticipants()).toContain(ids[other.name]);
      expect((await viewer.inboundStats()).filter((s) => s.participantId === ids[other.name])).toEqual([]);
    }
    const clinicianGets = new Set((await clinician.inboundStats()).filter((s) => s.kind === 'video').map((s) => s.participantId));
    expect(clinicianGets).toEqual(new Set([ids.studentA, ids.studentB]));
    // The node's bitrate gauge, sampled every second in this test.
    expect(await metric(env.server, /sfu_bitrate_bits\{direction="in"\} ([\d.e+]+)/)).toBeGreaterThan(100_000);
    expect(await metric(env.server, /sfu_bitrate_bits\{direction="out"\} ([\d.e+]+)/)).toBeGreaterThan(100_000);
  }, 30_000);
});

describe.skipIf(!available)('forwarding in Chromium: VP9 SVC (media.videoPublishing = vp9-svc)', () => {
  const env = useServerAndBrowser({ media: { videoPublishing: 'vp9-svc' } });
  const ROOM = 'e2e-forwarding-svc';

  it('the camera is sent as VP9 L3T3_KEY; a small tile gets the low spatial layer, a large one the top', async () => {
    const [clinician, student] = await Promise.all([
      openClient(env.browser, env.server.url, 'clinician', link(env.server, ROOM, 'clin-1', 'clinician')),
      openClient(env.browser, env.server.url, 'student', link(env.server, ROOM, 'stu-1', 'student')),
    ]);
    await Promise.all([waitForState(clinician, 'joined'), waitForState(student, 'joined')]);
    const clinicianId = (await clinician.participantId())!;
    await waitForMediaFlow(student);

    await setTile(student, clinicianId, 1280);
    // (At first the default tile needed two spatial layers: L2T3_KEY; the large tile needs three.)
    const sent = await pollUntil('the clinician to send VP9 L3T3_KEY at full size', () => clinician.outboundStats(),
      (s) => s.length === 1 && /vp9/i.test(s[0]!.codec ?? '') && s[0]!.scalabilityMode === 'L3T3_KEY' && (s[0]!.frameWidth ?? 0) > 640, { timeoutMs: 20_000 });
    const topWidth = sent[0]!.frameWidth!;
    const large = await frameWidthFrom(student, clinicianId, `a large tile gets the top spatial layer (${topWidth})`, (w) => w === topWidth);

    // A small tile: the server selects spatial layer 0, and nobody needs more, so the browser
    // encodes one spatial layer (L1T3) and the viewer decodes the low resolution.
    // (With mediasoup 3.12.16 and Chromium 156 the server-side spatial drop alone does not reach
    // the viewer: docs/forwarding.md, "VP9 SVC". Publisher-side reduction is what makes it work.)
    await setTile(student, clinicianId, 256);
    const one = await pollUntil('the clinician to encode one spatial layer', () => clinician.outboundStats(),
      (s) => s[0]?.scalabilityMode === 'L1T3');
    const small = await frameWidthFrom(student, clinicianId, 'a small tile gets the low spatial layer', (w) => w > 0 && w <= topWidth / 4 + 1);
    console.log(`[e2e forwarding svc] large tile ${large.width} px, small tile ${small.width} px; sender ${JSON.stringify(one[0])}`);

    await setTile(student, clinicianId, 1280);
    await frameWidthFrom(student, clinicianId, 'the top spatial layer again after growing the tile', (w) => w === topWidth);
  }, 90_000);
});
