import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import {
  CHROMIUM_BIN, CHROMIUM_FLAGS, chromiumAvailable, launchChromium, openClient, pollUntil, setTile, waitForMediaFlow, waitForState, useServerAndBrowser,
  frameWidthFrom, videoFrom, type ClientPage,
} from '../helpers/browser.ts';
import { ensureDebianPackage } from '../helpers/debian-package.ts';
import { RouterWatch, ivf, type Vp8Frame } from '../helpers/media-tap.ts';
import type { FrameCryptoStats } from '../../src/client/e2ee-frame-crypto.ts';

/**
 * Issue #16 in real Chromium, E2EE required: both pages decode each other's audio and video while
 * a server-side tap of the same producer (a DirectTransport consumer the test attaches) gets
 * frames in the E2EE format whose key frames do not decode (ffmpeg); simulcast still switches layers with the tile;
 * when the student withdraws consent the clinician's page uses a new key within 1 s, and frames
 * under it do not decrypt with the old key (checked in the pages' workers, debug mode); the
 * security code is the same on both pages and changes, announced, when the student leaves.
 */
const available = chromiumAvailable();
if (!available) console.warn(`!! SKIPPING the E2EE e2e tests: no Chromium at ${CHROMIUM_BIN}`);

/** Made before the server starts: it sees every router and producer of this process. */
const watch = new RouterWatch();
const DEBUG = { initScript: 'window.sfuE2eeDebug = true' };

function link(server: TestServer, room: string, identity: string, role: 'clinician' | 'student') {
  return { token: server.mint(room, identity, role), policy: server.handle.config.consent.policyVersions[0]! };
}

const e2eeOf = (c: ClientPage) => c.page.evaluate('window.sfuClient.e2ee()') as Promise<{ supported: boolean; api: string; mode: string; active: boolean; epoch: number | undefined; code: string | undefined }>;
const statsOf = (c: ClientPage) => c.page.evaluate('window.sfuClient.e2eeStats()') as Promise<FrameCryptoStats>;

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core's serious and critical violations on the page as it is (the E2EE lines included), at 1280 and at 390 px wide. */
async function seriousA11y(c: ClientPage): Promise<string[]> {
  const out: string[] = [];
  for (const width of [1280, 390]) {
    await c.page.setViewportSize({ width, height: width === 390 ? 844 : 720 });
    if (!(await c.page.evaluate('typeof window.axe !== "undefined"'))) await c.page.addScriptTag({ path: AXE });
    const v = await c.page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ' ' + v.nodes.map((n) => n.target).join(',')))`) as string[];
    out.push(...v.map((x) => `${width}px: ${x}`));
  }
  await c.page.setViewportSize({ width: 1280, height: 720 });
  return out;
}

/** ffmpeg's VP8 decoder on the tapped frames: how many it decoded, and its complaints. */
function ffmpegDecode(frames: readonly Vp8Frame[]): { decoded: number; errors: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-tap-'));
  try {
    const file = join(dir, 'tap.ivf');
    writeFileSync(file, ivf(frames, 1280, 720));
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'framecrc', '-'], { encoding: 'utf8', timeout: 30_000 });
    const decoded = r.stdout.split('\n').filter((l) => /^\d+,/.test(l)).length;
    return { decoded, errors: r.stderr.split('\n').filter(Boolean) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!available)('E2EE required, Chromium: a clinician and a student', () => {
  const env = useServerAndBrowser({ e2ee: { mode: 'required' }, media: { bitrateSampleSeconds: 1 } });
  const ROOM = 'e2e-e2ee';
  let clinician: ClientPage;
  let student: ClientPage;
  let clinicianId: string;
  let studentId: string;

  it('both pages decode each other; a server-side tap of the same producer gets frames that do not decode', async () => {
    const haveFfmpeg = ensureDebianPackage('ffmpeg', '/usr/bin/ffmpeg', 'the E2EE tap decode check');
    clinician = await openClient(env.browser, env.server.url, 'clinician', link(env.server, ROOM, 'clin-1', 'clinician'), DEBUG);
    await waitForState(clinician, 'joined');
    const video = await pollUntil('the clinician\'s camera producer on the server', async () => watch.producers().filter((p) => p.kind === 'video' && !p.closed), (p) => p.length === 1);
    const tap = await watch.tap(video[0]!.id);
    student = await openClient(env.browser, env.server.url, 'student', link(env.server, ROOM, 'kid-1', 'student'), DEBUG);
    await waitForState(student, 'joined');
    clinicianId = (await clinician.participantId())!;
    studentId = (await student.participantId())!;
    await Promise.all([waitForMediaFlow(clinician), waitForMediaFlow(student)]);

    const [ce, se] = [await e2eeOf(clinician), await e2eeOf(student)];
    console.log(`[e2e e2ee] transform API in Chromium: ${ce.api}; security code ${ce.code}`);
    expect(ce).toMatchObject({ supported: true, mode: 'required', active: true, epoch: 0 });
    expect(se).toMatchObject({ supported: true, mode: 'required', active: true, epoch: 0 });
    // The same security code on both pages, shown in the call; the clinician's page said why it changed.
    expect(ce.code).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(se.code).toBe(ce.code);
    expect(await student.page.textContent('#e2ee-code')).toContain(ce.code!);
    expect(await clinician.page.isVisible('#e2ee-status')).toBe(true);
    expect(await clinician.page.textContent('#e2ee-code-change')).toMatch(/changed because a student joined/);
    // The lock, the code and the change line pass axe (no serious or critical violation).
    expect(await seriousA11y(clinician)).toEqual([]);

    // The tap (the SFU's view of the clinician's camera) collects frames while the student's page decodes the same stream.
    const decodedBefore = (await videoFrom(student, clinicianId))!.framesDecoded ?? 0;
    const from = tap.frames.length;
    await tap.requestKeyFrame();
    const fresh = () => tap.frames.slice(from);
    await pollUntil('the tap to collect a key frame and 60 frames more', async () => ({ n: fresh().length, keys: fresh().filter((f) => f.keyFrame).length }),
      ({ n, keys }) => n >= 60 && keys >= 1, { timeoutMs: 20_000 });
    const frames = fresh().slice(fresh().findIndex((f) => f.keyFrame));
    tap.close();
    // Meanwhile the student's page decoded the same stream (a simulcast layer of the same producer).
    const decodedAfter = (await videoFrom(student, clinicianId))!.framesDecoded ?? 0;
    expect(decodedAfter - decodedBefore).toBeGreaterThan(30);
    // Every tapped frame is in the E2EE format: the clear header the SFU needs (VP8 frame tag; a key
    // frame's start code 9d 01 2a and picture size), then ciphertext, tag, IV, clear length and epoch 0.
    for (const f of frames) {
      expect(f.data[f.data.length - 2], 'clear header length').toBe(f.keyFrame ? 10 : 3);
      expect(f.data[f.data.length - 1], 'epoch').toBe(0);
    }
    const key = frames[0]!.data;
    expect([...key.subarray(3, 6)]).toEqual([0x9d, 0x01, 0x2a]);
    // The trailers' IVs: one sender key's salt, and its frame counter moving on (never repeating).
    const ivs = frames.map((f) => f.data.subarray(f.data.length - 14, f.data.length - 2));
    expect(new Set(ivs.map((iv) => Buffer.from(iv.subarray(0, 4)).toString('hex'))).size).toBe(1);
    const counters = ivs.map((iv) => Buffer.from(iv).readBigUInt64BE(4));
    expect(counters.every((c, i) => i === 0 || c > counters[i - 1]!)).toBe(true);
    const counted = (s: FrameCryptoStats) => s.encrypted > 100 && s.decrypted > 100;
    const stats = [
      await pollUntil('the clinician\'s worker to count 100 frames each way', () => statsOf(clinician), counted),
      await pollUntil('the student\'s worker to count 100 frames each way', () => statsOf(student), counted),
    ];
    console.log(`[e2e e2ee] tap: ${frames.length} frames (${frames.filter((f) => f.keyFrame).length} key); worker stats clinician ${JSON.stringify(stats[0])} student ${JSON.stringify(stats[1])}`);
    for (const s of stats) expect(s.dropped.authFailed + s.dropped.malformed).toBe(0);
    if (haveFfmpeg) {
      // ffmpeg's VP8 decoder refuses most of them ("Invalid partitions"). It is lenient: now and then
      // it outputs a picture for an encrypted frame (of noise: the bytes after the clear header are
      // ciphertext; about 1 key frame in 3 here), so the check is that it fails on most frames; the
      // key frames alone are logged.
      const keys = frames.filter((f) => f.keyFrame);
      // SFU_E2EE_TAP_DUMP=<file.ivf>: the tapped frames kept, to look at what ffmpeg makes of them.
      if (process.env.SFU_E2EE_TAP_DUMP) writeFileSync(process.env.SFU_E2EE_TAP_DUMP, ivf(frames, 1280, 720));
      const onlyKeys = ffmpegDecode(keys);
      const all = ffmpegDecode(frames);
      console.log(`[e2e e2ee] ffmpeg on the tapped frames: key frames alone ${onlyKeys.decoded} of ${keys.length} output; `
        + `all ${all.decoded} of ${frames.length} output, ${all.errors.length} error lines, first: ${all.errors.slice(0, 2).join(' | ')}`);
      expect(all.errors.length).toBeGreaterThan(0);
      expect(all.decoded).toBeLessThan(frames.length / 2);
    }
  }, 120_000);

  it('simulcast still switches layers with the tile under E2EE', async () => {
    // The stage caps the tile's height: 1280 wide is the stage's full width (the 640-px layer), 256
    // a small tile (the low layer). Which upper layers Chromium sends depends on its bandwidth and
    // CPU estimates (on a busy machine it may hold back the 1280-px one), so the test asks only for
    // a layer above the low one, then the low one, then above it again.
    await setTile(student, clinicianId, 1280);
    const low = await pollUntil('the clinician to send its low encoding and one above it', () => clinician.outboundStats(),
      (s) => (s.find((e) => e.rid === 'r0')?.frameWidth ?? 0) > 0 && s.some((e) => e.rid !== 'r0' && e.active !== false && (e.frameWidth ?? 0) > 0), { timeoutMs: 20_000 });
    const lowWidth = low.find((e) => e.rid === 'r0')!.frameWidth!;
    const large = await frameWidthFrom(student, clinicianId, `a large tile gets a layer above the low one (${lowWidth})`, (w) => w > lowWidth);
    await setTile(student, clinicianId, 256);
    const small = await frameWidthFrom(student, clinicianId, 'a small tile gets the low layer', (w) => w > 0 && w <= lowWidth);
    await setTile(student, clinicianId, 1280);
    const again = await frameWidthFrom(student, clinicianId, 'a higher layer again', (w) => w > small.width);
    console.log(`[e2e e2ee] simulcast under E2EE: large ${large.width} px, small ${small.width} px, large again ${again.width} px; sent ${JSON.stringify(low.map((e) => [e.rid, e.frameWidth, e.active]))}`);
    const s = await statsOf(student);
    expect(s.dropped.authFailed + s.dropped.malformed).toBe(0);
  }, 90_000);

  it('the student withdraws consent: the clinician uses a new key within 1 s that the old key cannot read; consent again: the student gets it', async () => {
    const sp = student.page;
    await sp.click('#withdraw-consent');
    const withdrawnAt = await sp.evaluate('(() => { const t = Date.now(); document.getElementById("withdraw-confirm").click(); return t; })()') as number;
    const rotated = await pollUntil('the clinician to encrypt with epoch 1', () => statsOf(clinician), (s) => s.epochFirstUsed[1] !== undefined && s.oldKeyTried > 0);
    const ms = rotated.epochFirstUsed[1]! - withdrawnAt;
    console.log(`[e2e e2ee] new key in use ${ms} ms after the withdrawal; old key tried on ${rotated.oldKeyTried} new frames, decrypted ${rotated.oldKeyDecrypted}`);
    expect(ms).toBeLessThan(1000);
    expect(rotated.oldKeyDecrypted).toBe(0);
    expect((await e2eeOf(clinician)).epoch).toBe(1);

    // Consent again: the clinician sends its current key (epoch 1); the student's worker decrypts
    // with it, and its debug check finds the old key (epoch 0) cannot read those frames.
    await sp.waitForSelector('#consent-again', { state: 'visible' });
    await sp.click('#consent-again');
    await sp.fill('#consent-again-name', 'Pat Guardian');
    await sp.check('#consent-again-agree');
    await sp.click('#consent-again-submit');
    const got = await pollUntil('the student to decrypt the clinician\'s epoch 1', () => statsOf(student),
      (s) => s.receiving[clinicianId]?.epoch === 1 && s.oldKeyTried > 0, { timeoutMs: 20_000, context: () => student.logs.slice(-15).join('\n') });
    expect(got.oldKeyDecrypted).toBe(0);
    await waitForMediaFlow(student);
    await waitForMediaFlow(clinician);
  }, 90_000);

  it('the student reloads the page: the session resumes with the same key pair, and both decode each other again', async () => {
    const code = (await e2eeOf(clinician)).code;
    const epochBefore = (await e2eeOf(student)).epoch!;
    await student.page.reload();
    await waitForState(student, 'joined');
    expect(await student.participantId()).toBe(studentId);
    // The page kept its identity key pair for the resumed session (IndexedDB): the same security code.
    await pollUntil('the reloaded page to show the same security code', () => e2eeOf(student), (e) => e.active && e.code === code);
    // Its new sender key goes on from the earlier page's epoch (the clinician ignores an epoch older than the one it holds).
    expect((await e2eeOf(student)).epoch).toBe(epochBefore + 1);
    // The reloaded page decrypts the clinician's frames (the clinician sent its key again when the
    // student was back), and the clinician the reloaded page's (a new sender key, sent at its start).
    await Promise.all([waitForMediaFlow(student, { timeoutMs: 20_000 }), waitForMediaFlow(clinician, { timeoutMs: 20_000 })]);
    await pollUntil('the reloaded student to decrypt the clinician', () => statsOf(student), (s) => (s?.decrypted ?? 0) > 30 && s.dropped.authFailed === 0);
    const before = (await statsOf(clinician)).decrypted;
    await pollUntil('the clinician to go on decrypting the reloaded student', () => statsOf(clinician), (s) => s.decrypted > before + 30);
    expect((await e2eeOf(clinician)).code).toBe(code);
  }, 60_000);

  it('the student leaves: the clinician rekeys and announces the security code change', async () => {
    const before = (await e2eeOf(clinician)).code;
    await student.page.click('#leave');
    await pollUntil('the clinician to rekey (epoch 2)', () => e2eeOf(clinician), (e) => e.epoch === 2 && e.code !== before);
    expect(await clinician.page.textContent('#e2ee-code-change')).toMatch(/changed because a student left/);
  }, 30_000);

  it('a newcomer gets the current key; kicked, the clinician uses a new key within 1 s that the old key cannot read', async () => {
    const epoch = (await e2eeOf(clinician)).epoch!;
    const newcomer = await openClient(env.browser, env.server.url, 'student 2', link(env.server, ROOM, 'kid-2', 'student'), DEBUG);
    await waitForState(newcomer, 'joined');
    const newcomerId = (await newcomer.participantId())!;
    await Promise.all([waitForMediaFlow(newcomer), waitForMediaFlow(clinician)]);
    // The newcomer decrypts the clinician's current epoch (sent on participantJoined), with no rekey.
    await pollUntil('the newcomer to decrypt the clinician\'s current epoch', () => statsOf(newcomer), (s) => s.receiving[clinicianId]?.epoch === epoch);
    expect((await e2eeOf(newcomer)).code).toBe((await e2eeOf(clinician)).code);
    const triedBefore = (await statsOf(clinician)).oldKeyTried;
    const kickedAt = Date.now();
    const res = await fetch(`${env.server.url}/admin/rooms/${ROOM}/kick`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ identity: 'kid-2' }),
    });
    expect(res.ok).toBe(true);
    const rotated = await pollUntil(`the clinician to encrypt with epoch ${epoch + 1}`, () => statsOf(clinician),
      (s) => s.epochFirstUsed[epoch + 1] !== undefined && s.oldKeyTried > triedBefore);
    console.log(`[e2e e2ee] kicked: new key in use ${rotated.epochFirstUsed[epoch + 1]! - kickedAt} ms after the kick request; old keys tried on new frames ${rotated.oldKeyTried - triedBefore} times, decrypted ${rotated.oldKeyDecrypted}`);
    expect(rotated.epochFirstUsed[epoch + 1]! - kickedAt).toBeLessThan(1000);
    expect(rotated.oldKeyDecrypted).toBe(0);
    expect(newcomerId).not.toBe(studentId);
    await newcomer.page.context().close();
  }, 60_000);

  it('a shared screen is encrypted too: the student decodes it, its frames authenticate', async () => {
    // A browser of its own: getDisplayMedia picks the fake screen without a prompt.
    const screenBrowser = await launchChromium([...CHROMIUM_FLAGS, '--auto-select-desktop-capture-source=Entire screen']);
    try {
      const room = 'e2e-e2ee-screen';
      const sharer = await openClient(screenBrowser, env.server.url, 'clinician (screen)', link(env.server, room, 'clin-2', 'clinician'), DEBUG);
      await waitForState(sharer, 'joined');
      const viewer = await openClient(screenBrowser, env.server.url, 'student (screen)', link(env.server, room, 'kid-3', 'student'), DEBUG);
      await waitForState(viewer, 'joined');
      const sharerId = (await sharer.participantId())!;
      await waitForMediaFlow(viewer);
      await sharer.page.click('#share-screen');
      const screenFrames = async () => (await viewer.inboundStats()).find((x) => x.kind === 'video' && x.source === 'screen' && x.participantId === sharerId)?.framesDecoded ?? 0;
      await pollUntil('the student to decode the encrypted screen share', screenFrames, (n) => n > 10, { timeoutMs: 20_000, context: () => viewer.logs.slice(-15).join('\n') });
      const s = await statsOf(viewer);
      expect(s.dropped.authFailed + s.dropped.malformed).toBe(0);
    } finally {
      await screenBrowser.close();
    }
  }, 60_000);

  it('optional (token claim): encrypted because its first participant can; a browser that cannot is refused E2EE_UNSUPPORTED in plain words', async () => {
    const room = 'e2e-e2ee-optional';
    const optional = (identity: string, role: 'clinician' | 'student') => ({
      token: env.server.mint(room, identity, role, { e2ee: 'optional' }), policy: env.server.handle.config.consent.policyVersions[0]!,
    });
    const first = await openClient(env.browser, env.server.url, 'clinician (optional)', optional('clin-3', 'clinician'));
    await waitForState(first, 'joined');
    expect(await e2eeOf(first)).toMatchObject({ mode: 'optional', active: true });
    expect(await first.page.isVisible('#e2ee-status')).toBe(true);
    const noTransforms = 'delete window.RTCRtpScriptTransform; delete RTCRtpSender.prototype.createEncodedStreams;';
    const late = await openClient(env.browser, env.server.url, 'old browser (optional)', optional('kid-4', 'student'), { join: false, initScript: noTransforms });
    await late.page.waitForSelector('#e2ee-prejoin[data-mode="optional"]');
    expect(await late.page.textContent('#e2ee-prejoin')).toMatch(/cannot do end-to-end encryption/);
    await late.join();
    await waitForState(late, 'error:E2EE_UNSUPPORTED');
    expect(await late.page.textContent('#message')).toMatch(/end-to-end encrypted and this browser cannot take part/);
    await Promise.all([first.page.context().close(), late.page.context().close()]);
  }, 60_000);

  it('the createEncodedStreams path (Chromium before 141, forced by hiding RTCRtpScriptTransform): both decode each other', async () => {
    const room = 'e2e-e2ee-streams';
    const hide = { initScript: 'delete window.RTCRtpScriptTransform; window.sfuE2eeDebug = true;' };
    const a = await openClient(env.browser, env.server.url, 'clinician (streams)', link(env.server, room, 'clin-4', 'clinician'), hide);
    await waitForState(a, 'joined');
    const api = (await e2eeOf(a)).api;
    if (api !== 'encoded-streams') {
      console.log(`[e2e e2ee] this Chromium has no createEncodedStreams (api ${api}): path not exercised`);
      await a.page.context().close();
      return;
    }
    const b = await openClient(env.browser, env.server.url, 'student (streams)', link(env.server, room, 'kid-5', 'student'), hide);
    await waitForState(b, 'joined');
    await Promise.all([waitForMediaFlow(a), waitForMediaFlow(b)]);
    for (const c of [a, b]) {
      const s = await pollUntil(`${c.name}: 30 frames each way`, () => statsOf(c), (x) => x.encrypted > 30 && x.decrypted > 30);
      expect(s.dropped.authFailed + s.dropped.malformed).toBe(0);
    }
    console.log('[e2e e2ee] createEncodedStreams path: both pages encrypt and decrypt');
    await Promise.all([a.page.context().close(), b.page.context().close()]);
  }, 60_000);

  it('a browser without encoded transforms is told before joining a required session, and cannot press Join', async () => {
    const noTransforms = 'delete window.RTCRtpScriptTransform; delete RTCRtpSender.prototype.createEncodedStreams;';
    const page = await openClient(env.browser, env.server.url, 'old-browser', link(env.server, 'e2e-e2ee-2', 'kid-2', 'student'), { join: false, initScript: noTransforms });
    await page.page.waitForSelector('#e2ee-prejoin[data-mode="required"]');
    expect(await page.page.textContent('#e2ee-prejoin')).toMatch(/must be end-to-end encrypted, and this browser cannot/);
    expect(await page.page.isDisabled('#join')).toBe(true);
    expect(await seriousA11y(page)).toEqual([]);
    await page.page.context().close();
  }, 30_000);
});
