import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TEST_SECRET, type TestServer } from '../helpers/server.ts';
import {
  chromiumAvailable,
  fillFormAndJoin,
  openClient,
  pollUntil,
  TEST_SAFETY_FORM,
  useServerAndBrowser,
  waitForMediaFlow,
  waitForState,
} from '../helpers/browser.ts';

const available = chromiumAvailable();
if (!available) console.warn('[e2e] Chromium not found; set SFU_CHROMIUM_BIN. Skipping the pre-join tests.');

const ROOM = 'prejoin-room';

/** The page fits the width: nothing to scroll sideways (issue #15, 390x844). */
async function noHorizontalScroll(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  return page.evaluate('({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth })');
}

async function openPhone(server: TestServer, browser: Parameters<typeof openClient>[0], hash: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/${hash}`);
  return page;
}

describe.skipIf(!available)('the page before a join', () => {
  const env = useServerAndBrowser();

  it('the bare URL explains what the page is and how to get a link, and fits a 390 px phone', async () => {
    const page = await openPhone(env.server, env.browser, '');
    await page.waitForSelector('#no-link', { state: 'visible' });
    expect(await page.textContent('#no-link')).toMatch(/personal link that your clinician or school sends you/);
    expect(await page.getAttribute('#status', 'data-state')).toBe('no-link');
    expect(await page.textContent('#status')).toBe('No session link');
    expect(await page.locator('#join-form').isVisible()).toBe(false);
    const w = await noHorizontalScroll(page);
    expect(w.scrollWidth).toBeLessThanOrEqual(w.clientWidth);
    await page.context().close();
  }, 60_000);

  it('an expired link says so in plain words before any form is shown (and fits 390 px)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = jwt.sign({ room: ROOM, sub: 'student-x', role: 'student', exp: now - 60 }, TEST_SECRET);
    const page = await openPhone(env.server, env.browser, `#token=${expired}`);
    await page.waitForSelector('#link-problem', { state: 'visible' });
    expect(await page.textContent('#link-problem-text')).toBe('This link has expired. Ask the clinician or school who sent it for a new one.');
    expect(await page.getAttribute('#status', 'data-code')).toBe('TOKEN_EXPIRED');
    expect(await page.textContent('#status')).toBe('Link problem');
    // The form was never shown, and nothing reached the room.
    expect(await page.locator('#prejoin').isVisible()).toBe(false);
    expect(await page.locator('#join-form').isVisible()).toBe(false);
    expect(await page.evaluate('window.sfuClient.state')).toBe('idle');
    expect(env.server.handle.rooms.rooms).toHaveLength(0);
    const w = await noHorizontalScroll(page);
    expect(w.scrollWidth).toBeLessThanOrEqual(w.clientWidth);
    // A badly signed link is "not valid", in words too.
    await page.goto(`${env.server.url}/#token=${jwt.sign({ room: ROOM, sub: 's', role: 'student', exp: now + 600 }, 'x'.repeat(40))}`);
    await page.reload();
    await page.waitForSelector('#link-problem', { state: 'visible' });
    expect(await page.textContent('#link-problem-text')).toMatch(/^This link is not complete or not valid\./);
    await page.context().close();
  }, 60_000);

  it('the desk page calls an expired desk token a desk link, never a session link', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = jwt.sign({ role: 'desk', rooms: ['*'], sub: 'desk-1', exp: now - 60 }, TEST_SECRET);
    const page = await openPhone(env.server, env.browser, `desk.html#token=${expired}`);
    await page.waitForFunction('window.safetyDesk && window.safetyDesk.state === "error:TOKEN_EXPIRED"', undefined, { timeout: 15_000 });
    const text = await page.textContent('#message');
    expect(text).toMatch(/desk link/);
    expect(text).not.toMatch(/session link/);
    expect(await page.textContent('#status')).toBe('Not connected');
    expect(await page.getAttribute('#status', 'data-code')).toBe('TOKEN_EXPIRED');
    await page.context().close();
  }, 60_000);

  it('a student joins through the pre-join screen: preview, device pickers, a moving level meter; a link without &policy= works; 390 px wide', async () => {
    const token = env.server.mint(ROOM, 'student-p', 'student');
    const page = await openPhone(env.server, env.browser, `#token=${token}`);
    await page.waitForSelector('#prejoin', { state: 'visible' });
    expect(await page.getAttribute('#status', 'data-state')).toBe('ready');
    expect(await page.textContent('#prejoin-who')).toMatch(/joining as: Student/);
    // The form asks a guardian, in words; no token field, the region by name.
    expect(await page.locator('#token').count()).toBe(0);
    expect(await page.textContent('#consent-name-label')).toBe('Parent\'s or guardian\'s name');
    expect(await page.locator('#loc-region option[value="US-CA"]').textContent()).toBe('California');
    // The camera preview plays, the pickers list the fake devices, the level meter moves with the fake microphone.
    await page.waitForFunction('document.getElementById("preview").videoWidth > 0', undefined, { timeout: 15_000 });
    await page.waitForSelector('#camera-select option', { state: 'attached' });
    expect(await page.locator('#mic-select option').count()).toBeGreaterThan(0);
    const levels: number[] = [];
    await pollUntil('the level meter to move', async () => {
      levels.push(Number(await page.getAttribute('#mic-level', 'data-level')));
      return levels;
    }, (l) => new Set(l).size >= 3 && Math.max(...l) > 10, { timeoutMs: 10_000, intervalMs: 100 });
    const before = await page.evaluate('window.sfuClient.prejoin()') as { preview: { kind: string; deviceId: string }[]; micPeak: number; problem?: string };
    expect(before.problem).toBeUndefined();
    expect(before.preview.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    const w = await noHorizontalScroll(page);
    expect(w.scrollWidth).toBeLessThanOrEqual(w.clientWidth);
    console.log(`[e2e] pre-join: level samples ${JSON.stringify(levels.slice(-20))}, peak ${before.micPeak}`);

    await fillFormAndJoin(page);
    await page.waitForFunction('window.sfuClient.state === "joined"', undefined, { timeout: 20_000 });
    // The policy came from the link check; the preview's devices are what is published.
    const records = (await env.server.handle.store.participants(ROOM)).filter((r) => r.identity === 'student-p');
    expect(records[0]!.consents[0]!.policyVersion).toBe(env.server.handle.config.consent.policyVersions[0]);
    const published = await page.evaluate(`(() => { const v = document.querySelector('#local-tile video'); return v && v.srcObject ? v.srcObject.getTracks().map((t) => t.getSettings().deviceId) : []; })()`) as string[];
    expect(published.sort()).toEqual(before.preview.map((t) => t.deviceId).sort());
    expect(await page.locator('#prejoin').isVisible()).toBe(false);
    const inCall = await noHorizontalScroll(page);
    expect(inCall.scrollWidth).toBeLessThanOrEqual(inCall.clientWidth);
    await page.click('#leave');
    await page.context().close();
  }, 90_000);

  it('a camera and microphone that cannot be opened are named on the pre-join screen, with Try again; the form stays', async () => {
    const context = await env.browser.newContext({ viewport: { width: 390, height: 844 } });
    await context.addInitScript(`navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('in use', 'NotReadableError'));`);
    const page = await context.newPage();
    await page.goto(`${env.server.url}/#token=${env.server.mint(ROOM, 'student-d', 'student')}`);
    await page.waitForSelector('#device-problem', { state: 'visible' });
    expect(await page.textContent('#device-problem-text')).toMatch(/^Camera or microphone not working\. Could not open your microphone or camera: the device is in use by another application\./);
    expect(await page.locator('#device-retry').isVisible()).toBe(true);
    expect(await page.locator('#mic-level-row').isVisible()).toBe(false);
    expect(await page.locator('#join-form').isVisible()).toBe(true);
    const w = await noHorizontalScroll(page);
    expect(w.scrollWidth).toBeLessThanOrEqual(w.clientWidth);
    await context.close();
  }, 60_000);

  it('guardian details are remembered on the device after a reload, never the token or the location, and can be forgotten', async () => {
    const token = env.server.mint(ROOM, 'student-g', 'student');
    const page = await openPhone(env.server, env.browser, `#token=${token}`);
    await fillFormAndJoin(page);
    await page.waitForFunction('window.sfuClient.state === "joined"', undefined, { timeout: 20_000 });
    await page.click('#leave');
    await page.waitForFunction('window.sfuClient.state === "idle"');
    const stored = await page.evaluate('JSON.stringify(localStorage)') as string;
    expect(stored).toContain(TEST_SAFETY_FORM.contactPhone);
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(TEST_SAFETY_FORM.place);
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).not.toContain(token);

    await page.reload();
    await page.waitForSelector('#prejoin', { state: 'visible' });
    expect(await page.inputValue('#contact-name')).toBe(TEST_SAFETY_FORM.contactName);
    expect(await page.inputValue('#contact-phone')).toBe(TEST_SAFETY_FORM.contactPhone);
    expect(await page.inputValue('#consent-name')).toBe(TEST_SAFETY_FORM.consentName);
    expect(await page.inputValue('#loc-description')).toBe('');
    expect(await page.locator('#remembered-note').isVisible()).toBe(true);

    await page.click('#forget-details');
    expect(await page.inputValue('#contact-name')).toBe('');
    expect(await page.evaluate('JSON.stringify(localStorage)')).not.toContain(TEST_SAFETY_FORM.contactPhone);
    await page.reload();
    await page.waitForSelector('#prejoin', { state: 'visible' });
    expect(await page.inputValue('#contact-phone')).toBe('');
    expect(await page.locator('#forget-details').isVisible()).toBe(false);
    await page.context().close();
  }, 90_000);
});

describe.skipIf(!available)('a reload in the call', () => {
  const env = useServerAndBrowser();

  it('the student\'s reload resumes the session: same participant for the clinician, video again, no new consent record', async () => {
    const policy = env.server.handle.config.consent.policyVersions[0]!;
    const [clinician, student] = await Promise.all([
      openClient(env.browser, env.server.url, 'clinician', { token: env.server.mint(ROOM, 'clinician-1', 'clinician'), policy }),
      openClient(env.browser, env.server.url, 'student', { token: env.server.mint(ROOM, 'student-1', 'student'), policy }),
    ]);
    await Promise.all([waitForState(clinician, 'joined'), waitForState(student, 'joined')]);
    await Promise.all([waitForMediaFlow(clinician), waitForMediaFlow(student)]);
    const studentId = (await student.participantId())!;
    const recordsBefore = (await env.server.handle.store.participants(ROOM)).filter((r) => r.identity === 'student-1');
    expect(recordsBefore).toHaveLength(1);
    const framesBefore = await clinician.inboundStats();

    await student.page.reload();
    await waitForState(student, 'joined', 20_000);
    expect(await student.participantId()).toBe(studentId);
    expect(await student.page.locator('#join-form').isVisible()).toBe(false);
    // The clinician still has the same participant, and decodes the student's new camera stream.
    expect(await clinician.remoteParticipants()).toEqual([studentId]);
    const oldIds = new Set(framesBefore.map((s) => s.id));
    await pollUntil('the clinician to decode the student\'s video again', () => clinician.inboundStats(),
      (s) => s.some((x) => x.kind === 'video' && x.participantId === studentId && !oldIds.has(x.id) && (x.framesDecoded ?? 0) > 10),
      { timeoutMs: 20_000, context: () => [...clinician.logs, ...student.logs].slice(-20).join('\n') });
    await waitForMediaFlow(student);
    // No new admission: one session, one consent grant.
    const recordsAfter = (await env.server.handle.store.participants(ROOM)).filter((r) => r.identity === 'student-1');
    expect(recordsAfter).toHaveLength(1);
    expect(recordsAfter[0]!.consents).toHaveLength(1);
    expect(recordsAfter[0]!.sessionId).toBe(studentId);

    // Leaving clears the tab's resume token: the next load shows the pre-join screen.
    await student.page.click('#leave');
    await waitForState(student, 'idle');
    await student.page.reload();
    await student.page.waitForSelector('#prejoin', { state: 'visible' });
    expect(await student.state()).toBe('idle');
    await Promise.all([clinician.page.context().close(), student.page.context().close()]);
  }, 120_000);
});
