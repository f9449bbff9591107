import { describe, expect, it } from 'vitest';
import { version as mediasoupVersion } from 'mediasoup';
import type { TestServer } from '../helpers/server.ts';
import { openClient, pollUntil, useServerAndBrowser, waitForMediaFlow, waitForState } from '../helpers/browser.ts';
import { missingChromiumOrFirefox, openFirefoxClient, useFirefox } from '../helpers/firefox.ts';
import { audioFrameMs } from '../helpers/audio-frames.ts';

/** What the browser client asks for (OPUS_PTIME_MS in src/client/media-link.ts; bench/README.md, lean defaults). */
const OPUS_PTIME_MS = 40;

/**
 * Firefox ESR (puppeteer-core over WebDriver BiDi) and Chromium (playwright-core) in one room, through
 * the server and its mediasoup worker: a real ICE + DTLS handshake from each browser's own stack,
 * then each decodes the other's video and receives the other's audio; a silent alarm raised from
 * Firefox reaches the clinician's Chromium page.
 * Firefox runs with `media.peerconnection.ice.loopback` (see FIREFOX_PREFS): the test server
 * announces 127.0.0.1 only. Stock browsers against `npm start`'s defaults: stock-browsers.test.ts.
 */
const missing = missingChromiumOrFirefox();
if (missing.length > 0) {
  console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING the Firefox <-> Chromium e2e test: no ${missing.join(', no ')}\n`
    + `!! Install them (apt-get install -y chromium firefox-esr) or set SFU_CHROMIUM_BIN / SFU_FIREFOX_BIN.\n${'!'.repeat(78)}\n`);
}

const ROOM = 'e2e-firefox-room';

function link(server: TestServer, identity: string, role: 'clinician' | 'student') {
  return { token: server.mint(ROOM, identity, role), policy: server.handle.config.consent.policyVersions[0]! };
}

describe.skipIf(missing.length > 0)('Firefox and Chromium in one room', () => {
  const env = useServerAndBrowser();
  const firefox = useFirefox();

  it('complete DTLS with the worker, and each decodes the other\'s video and receives their audio', async () => {
    const [clinician, student] = await Promise.all([
      openClient(env.browser, env.server.url, 'clinician (Chromium)', link(env.server, 'clinician-1', 'clinician')),
      openFirefoxClient(firefox.browser, env.server.url, 'student (Firefox)', link(env.server, 'student-1', 'student')),
    ]);
    await Promise.all([waitForState(clinician, 'joined'), waitForState(student, 'joined', 20_000)]);
    const [a, b] = await Promise.all([waitForMediaFlow(clinician, { timeoutMs: 20_000 }), waitForMediaFlow(student, { timeoutMs: 20_000 })]);
    const clinicianId = await clinician.participantId();
    const studentId = await student.participantId();

    // Each receives exactly the other's camera and microphone, and both are moving.
    const kindsFrom = async (c: typeof student | typeof clinician) => (await c.inboundStats()).map((s) => `${s.participantId === clinicianId ? 'clinician' : s.participantId === studentId ? 'student' : '?'}:${s.kind}`).sort();
    expect(await kindsFrom(clinician)).toEqual(['student:audio', 'student:video']);
    expect(await kindsFrom(student)).toEqual(['clinician:audio', 'clinician:video']);
    for (const flow of [a, b]) {
      expect(flow.framesDecodedDeltas.length).toBe(1);
      expect(flow.framesDecodedDeltas.every((d) => d > 0)).toBe(true);
      expect(flow.audioPacketDeltas.every((d) => d > 0)).toBe(true);
    }

    // The worker's side of the handshake: every transport of both browsers is DTLS-connected.
    const room = env.server.handle.rooms.get(ROOM)!;
    const transports = room.participants.flatMap((p) => [...p.transports.values()].map(({ transport: t, direction }) => ({
      browser: p.id === studentId ? 'firefox' : 'chromium', direction, dtls: t.dtlsState, ice: t.iceState, protocol: t.iceSelectedTuple?.protocol,
    })));
    expect(transports.map((t) => `${t.browser}:${t.direction}`).sort()).toEqual(['chromium:recv', 'chromium:send', 'firefox:recv', 'firefox:send']);
    for (const t of transports) expect(t.dtls, `${t.browser} ${t.direction} transport`).toBe('connected');

    // What Firefox sends (for the record: simulcast rids and sizes as its own stats report them).
    const firefoxOut = await student.outboundStats();
    const firefoxCamera = room.participants.find((p) => p.id === studentId)!;
    const rids = [...firefoxCamera.producers.values()].filter((e) => e.producer.kind === 'video').map((e) => e.producer.rtpParameters.encodings?.map((x) => x.rid ?? x.ssrc));
    console.log(`[e2e firefox] mediasoup ${mediasoupVersion}; first remote frame after Join: Chromium ${a.firstFrameMs} ms, Firefox ${b.firstFrameMs} ms; `
      + `framesDecoded deltas ${JSON.stringify(a.framesDecodedDeltas)} / ${JSON.stringify(b.framesDecodedDeltas)}; `
      + `audio packet deltas ${JSON.stringify(a.audioPacketDeltas)} / ${JSON.stringify(b.audioPacketDeltas)}; frame widths ${JSON.stringify(a.frameWidths)} / ${JSON.stringify(b.frameWidths)}\n`
      + `[e2e firefox] server transports ${JSON.stringify(transports)}\n`
      + `[e2e firefox] Firefox camera producer encodings ${JSON.stringify(rids)}; Firefox outbound ${JSON.stringify(firefoxOut.map((o) => ({ rid: o.rid, codec: o.codec, w: o.frameWidth, h: o.frameHeight, active: o.active })))}`);
    expect(firefoxOut.some((o) => o.packetsSent > 0)).toBe(true);

    // The microphone's packetisation as each browser sends it (src/client/media-link.ts OPUS_PTIME_MS).
    const frames: Record<string, number | undefined> = {};
    for (const p of room.participants) {
      const mic = [...p.producers.values()].find((e) => e.source === 'mic')!.producer;
      frames[p.id === studentId ? 'firefox' : 'chromium'] = await audioFrameMs(mic);
    }
    console.log(`[e2e firefox] audio frame length sent (ms): ${JSON.stringify(frames)}`);
    // Chromium follows the answer's ptime; Firefox 153 keeps 20 ms whatever the answer says.
    expect(frames).toEqual({ chromium: OPUS_PTIME_MS, firefox: 20 });

    // The panic button works from Firefox (issue #14): a silent alarm is answered by the server and
    // shown on the clinician's Chromium page within 1 s.
    await student.page.click('#panic-silent');
    const pressed = Date.now();
    await student.page.click('#panic');
    const raised = await pollUntil('the Firefox student\'s alarm answered', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string; silent?: boolean }>,
      (p) => p.acked, { timeoutMs: 5000, intervalMs: 20 });
    expect(raised.silent).toBe(true);
    await pollUntil('the alarm on the clinician\'s page', () => clinician.page.evaluate('window.sfuClient.alerts()') as Promise<{ incidents: { id: string }[] }>,
      (s) => s.incidents.some((i) => i.id === raised.lastIncidentId), { timeoutMs: 5000, intervalMs: 20 });
    const shownMs = Date.now() - pressed;
    console.log(`[e2e firefox] silent alarm from Firefox on the clinician's page ${shownMs} ms after the click`);
    expect(shownMs).toBeLessThan(1000);
    expect([...clinician.logs, ...student.logs].filter((l) => l.includes('pageerror'))).toEqual([]);
  }, 90_000);
});
