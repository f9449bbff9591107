import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import {
  STOCK_CHROMIUM_FLAGS,
  buildClient,
  chromiumFor,
  launchChromium,
  openClient,
  openDesk,
  pollUntil,
  waitForState,
  whenTrueInPage,
  TEST_SAFETY_FORM,
  type ClientPage,
  type DeskPage,
} from '../helpers/browser.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';

/**
 * Issue #15, the alarm parts, in real Chromium against a real server: an alarm rings (a WebAudio
 * tone, checked running in the page) and raises a system notification on the clinician's and the
 * desk's pages until someone acknowledges; the desk can mute it without hiding anything; the
 * student sees who has the alarm, then how it ended; Resolve is offered only after an
 * acknowledgement (and the server refuses it before one, over the raw protocol); the Outcome
 * select starts empty for every alarm; the desk sorts by urgency and says what the next tier does.
 */
const available = chromiumFor('the alarm e2e tests');

const ROOM = 'e2e-alarms-room';
const TIER1_S = 120;
const SAFETY = {
  safety: {
    tiers: [
      { afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
      { afterSeconds: TIER1_S, notify: ['desk'] },
    ],
  },
};

/** Records every Notification the page constructs (the real one is still made). */
const RECORD_NOTIFICATIONS = `(() => {
  const Real = window.Notification;
  if (typeof Real !== 'function') return;
  const made = [];
  window.__notifications = made;
  class Recorded extends Real {
    constructor(title, options) {
      made.push({ title, body: options && options.body, tag: options && options.tag, at: Date.now() });
      super(title, options);
    }
  }
  window.Notification = Recorded;
})()`;

const js = (v: unknown) => JSON.stringify(v);
type Sound = { state: string; context: string; oscillator: boolean; peak: number; maxPeak: number; muted: boolean; notifications: string };
type Recorded = { title: string; body: string; tag: string }[];

describe.skipIf(!available)('alarms ring, notify, and are acknowledged before they are resolved (issue #15)', () => {
  let server: TestServer;
  let browser: Browser;
  let student: ClientPage;
  let clinician: ClientPage;
  let desk: DeskPage;
  let raw: SafetyClient;
  let first: string;
  const deskToken = mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] });

  const clinicianSound = () => clinician.page.evaluate('window.sfuClient.alerts().sound') as Promise<Sound>;
  const deskSound = () => desk.page.evaluate('window.safetyDesk.sound()') as Promise<Sound>;
  const studentPanic = () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string; responded?: { state: string; by: { identity: string; role: string }; outcome?: string } }>;

  async function raise(kind: string): Promise<string> {
    const before = (await studentPanic()).lastIncidentId;
    await student.page.selectOption('#panic-kind', kind);
    await student.page.click('#panic');
    const mine = await pollUntil('the raise to be answered', studentPanic, (p) => p.acked && p.lastIncidentId !== undefined && p.lastIncidentId !== before);
    return mine.lastIncidentId!;
  }

  beforeAll(async () => {
    buildClient();
    server = await startServer(SAFETY);
    // The test flags allow audio without a gesture (--autoplay-policy=no-user-gesture-required).
    browser = await launchChromium();
    const policy = server.handle.config.consent.policyVersions[0]!;
    const withNotifications = { context: { permissions: ['notifications'] }, initScript: RECORD_NOTIFICATIONS };
    [student, clinician] = await Promise.all([
      openClient(browser, server.url, 'student', { token: server.mint(ROOM, 'student-1', 'student'), policy }),
      openClient(browser, server.url, 'clinician', { token: server.mint(ROOM, 'clinician-1', 'clinician'), policy }, withNotifications),
    ]);
    desk = await openDesk(browser, server.url, deskToken, 'desk', withNotifications);
    await Promise.all([waitForState(student, 'joined'), waitForState(clinician, 'joined')]);
    for (const c of [student, clinician]) {
      await pollUntil(`${c.name}'s /safety connection`, () => c.page.evaluate('window.sfuClient.panic().channel') as Promise<string>, (s) => s === 'connected');
    }
    raw = await safetyClient(server.url, mintDeskToken(TEST_SECRET, { identity: 'desk-raw', rooms: [ROOM] }), 'websocket');
  }, 120_000);

  afterAll(async () => {
    raw?.close();
    await browser?.close();
    await server?.close();
  }, 60_000);

  it('an alarm plays a tone and raises a notification on the clinician\'s and the desk\'s pages; Resolve is disabled and the server refuses it before an acknowledgement', async () => {
    expect(await clinician.page.getAttribute('#alarm-sound', 'data-alarm-sound')).toBe('off');
    expect(await desk.page.getAttribute('#alarm-sound', 'data-alarm-sound')).toBe('off');
    first = await raise('medical');

    for (const [name, page, sound] of [['clinician', clinician.page, clinicianSound], ['desk', desk.page, deskSound]] as const) {
      await whenTrueInPage(page, `document.getElementById('alarm-sound').dataset.alarmSound === 'playing'`);
      // A WebAudio node is running and its output carries the tone (sampled by an analyser in the page).
      const s = await pollUntil(`${name}: the tone at the output`, sound, (x) => x.maxPeak > 0.05, { intervalMs: 100, timeoutMs: 5000 });
      expect(s).toMatchObject({ state: 'playing', context: 'running', oscillator: true, muted: false, notifications: 'granted' });
      console.info(JSON.stringify({ measure: `alarm-tone-peak-${name}`, value: Number(s.maxPeak.toFixed(3)) }));
      // One notification: kind, role and room; never the place, the contact or a name.
      const made = await pollUntil(`${name}: a notification`, () => page.evaluate('window.__notifications.map(({ title, body, tag }) => ({ title, body, tag }))') as Promise<Recorded>, (n) => n.length > 0);
      expect(made).toEqual([{ title: 'Alarm: Medical', body: `Student in room ${ROOM} needs help. Open the page to respond.`, tag: `sfu-alarm-${first}` }]);
      for (const secret of [TEST_SAFETY_FORM.place, TEST_SAFETY_FORM.contactPhone, TEST_SAFETY_FORM.contactName, 'student-1']) {
        expect(JSON.stringify(made)).not.toContain(secret);
      }
    }

    // Resolve before acknowledge: offered disabled on both pages, with the reason; the outcome starts empty.
    expect(await clinician.page.getAttribute('#panic-banner', 'data-state')).toBe('open');
    expect(await clinician.page.isDisabled('#panic-resolve')).toBe(true);
    expect(await clinician.page.isDisabled('#panic-outcome')).toBe(true);
    expect(await clinician.page.inputValue('#panic-outcome')).toBe('');
    expect(await clinician.page.textContent('#panic-resolve-hint')).toMatch(/Acknowledge first/);
    expect(await desk.page.isDisabled(`#resolve-${first}`)).toBe(true);
    expect(await desk.page.inputValue(`#outcome-${first}`)).toBe('');
    // And over the raw protocol, the server refuses it (nothing recorded).
    const refused = await raw.send('panic:resolve', { incidentId: first, outcome: 'continued' });
    expect(refused.ok).toBe(false);
    expect(refused.error.code).toBe('INCIDENT_NOT_ACKNOWLEDGED');
    const stillOpen = server.handle.panic.openIncidents().find((i) => i.id === first);
    expect(stillOpen?.state).toBe('open');
    expect(stillOpen?.acknowledgedBy).toBeUndefined();

    // The desk: how long it has been open (ticking), what tier 1 will do and when.
    const row = desk.page.locator(`#incident-${first}`);
    expect(await row.locator('.next').textContent()).toMatch(new RegExp(`^Tier 1 at .+ \\(in (\\d+ min \\d\\d|\\d+) s\\): alerts the safety desk$`));
    const age1 = await row.locator('.age').textContent();
    await whenTrueInPage(desk.page, `document.querySelector(${js(`#incident-${first} .age`)}).textContent !== ${js(age1)}`, 3000);
    expect(await row.locator('.age').textContent()).toMatch(/^\d+ s$/);

    // The student: sent, and "I pressed it by mistake" is offered while nobody has it.
    expect(await student.page.getAttribute('#panic-status', 'data-alarm')).toBe('sent');
    expect(await student.page.isVisible('#panic-cancel')).toBe(true);
  }, 60_000);

  it('the desk mutes the sound (the alarm stays on screen), unmutes it; the clinician acknowledges: the sound stops everywhere and the student sees who has the alarm', async () => {
    await desk.page.click('#alarm-mute');
    await whenTrueInPage(desk.page, `document.getElementById('alarm-sound').dataset.alarmSound === 'muted'`);
    expect(await deskSound()).toMatchObject({ state: 'muted', oscillator: false, muted: true });
    expect(await desk.page.isVisible(`#incident-${first}`)).toBe(true);
    expect(await desk.page.textContent('#alarm-mute')).toBe('Unmute alarm sound');
    // Muting one page silences that page only.
    expect((await clinicianSound()).state).toBe('playing');
    // Unmuted from the keyboard: the control is a plain button, focusable and labelled by its text.
    await desk.page.focus('#alarm-mute');
    await desk.page.keyboard.press('Enter');
    await whenTrueInPage(desk.page, `document.getElementById('alarm-sound').dataset.alarmSound === 'playing'`);

    await clinician.page.click('#panic-ack');
    for (const page of [clinician.page, desk.page]) await whenTrueInPage(page, `document.getElementById('alarm-sound').dataset.alarmSound === 'off'`);
    expect(await clinicianSound()).toMatchObject({ state: 'off', oscillator: false });
    expect(await deskSound()).toMatchObject({ state: 'off', oscillator: false });

    await whenTrueInPage(student.page, `document.getElementById('panic-status').dataset.alarm === 'acknowledged'`);
    expect(await student.page.textContent('#panic-status')).toMatch(/^Your clinician \(clinician-1\) has your alarm since .+ and is responding\.$/);
    expect((await studentPanic()).responded).toMatchObject({ state: 'acknowledged', by: { identity: 'clinician-1', role: 'clinician' } });
    expect(await student.page.isVisible('#panic-cancel')).toBe(false);
    expect(await desk.page.textContent(`#incident-${first} .next`)).toBe('None: acknowledged, escalation stopped');
    // Said to screen readers through the desk's aria-live region.
    expect(await desk.page.textContent('#announcer')).toBe(`Alarm in room ${ROOM} acknowledged by clinician (clinician-1).`);
  }, 30_000);

  it('Resolve needs a chosen outcome; after the resolve the student sees how it ended', async () => {
    await whenTrueInPage(clinician.page, `document.getElementById('panic-banner').dataset.state === 'acknowledged'`);
    expect(await clinician.page.inputValue('#panic-outcome')).toBe('');
    expect(await clinician.page.isDisabled('#panic-outcome')).toBe(false);
    expect(await clinician.page.isDisabled('#panic-resolve')).toBe(true);
    expect(await clinician.page.textContent('#panic-resolve-hint')).toBe('Choose an outcome to resolve.');
    await clinician.page.selectOption('#panic-outcome', 'false-alarm');
    expect(await clinician.page.isDisabled('#panic-resolve')).toBe(false);
    await clinician.page.click('#panic-resolve');

    await whenTrueInPage(student.page, `document.getElementById('panic-status').dataset.alarm === 'resolved'`);
    expect(await student.page.textContent('#panic-status')).toMatch(/^Your alarm was closed by your clinician \(clinician-1\) at .+: it was a false alarm\.$/);
    expect((await studentPanic()).responded).toMatchObject({ state: 'resolved', outcome: 'false-alarm' });
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${first}`)}).dataset.state === 'resolved'`);
  }, 30_000);

  it('a second and a third alarm: the outcome starts empty again, the desk shows the most urgent first, and resolves from the desk after acknowledging', async () => {
    // Muted with nothing ringing: a new alarm rings anyway (mute silences the alarms that were ringing, not the next one).
    await desk.page.click('#alarm-mute');
    expect(await desk.page.textContent('#alarm-mute')).toBe('Unmute alarm sound');
    const technical = await raise('technical');
    await whenTrueInPage(desk.page, `document.getElementById('alarm-sound').dataset.alarmSound === 'playing'`);
    expect(await desk.page.textContent('#alarm-mute')).toBe('Mute alarm sound');
    await whenTrueInPage(clinician.page, `document.getElementById('panic-banner').dataset.incidentId === ${js(technical)}`);
    expect(await clinician.page.inputValue('#panic-outcome')).toBe('');
    const selfHarm = await raise('self-harm');
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${selfHarm}`)}) !== null`);
    expect(await desk.page.inputValue(`#outcome-${selfHarm}`)).toBe('');
    expect(await desk.page.inputValue(`#outcome-${technical}`)).toBe('');
    // Both unacknowledged: self-harm (more severe) above technical (older); the resolved one last.
    expect(await desk.page.evaluate('window.safetyDesk.order()')).toEqual([selfHarm, technical, first]);
    const notified = await desk.page.evaluate('window.__notifications.map((n) => n.title)');
    expect(notified).toEqual(['Alarm: Medical', 'Alarm: Technical', 'Alarm: Self-harm risk']);
    await whenTrueInPage(desk.page, `document.getElementById('alarm-sound').dataset.alarmSound === 'playing'`);

    // The desk acknowledges the self-harm alarm: the unacknowledged technical one moves to the top, and the sound goes on for it.
    await desk.page.click(`#ack-${selfHarm}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${selfHarm}`)}).dataset.state === 'acknowledged'`);
    expect(await desk.page.evaluate('window.safetyDesk.order()')).toEqual([technical, selfHarm, first]);
    expect((await deskSound()).state).toBe('playing');
    // The student's page speaks of their latest alarm (the self-harm one): the desk has it.
    await whenTrueInPage(student.page, `document.getElementById('panic-status').dataset.alarm === 'acknowledged'`);
    expect(await student.page.textContent('#panic-status')).toMatch(/^The safety team \(desk-1\) has your alarm since .+ and is responding\.$/);

    await desk.page.selectOption(`#outcome-${selfHarm}`, 'continued');
    await desk.page.click(`#resolve-${selfHarm}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${selfHarm}`)}).dataset.state === 'resolved'`);
    await whenTrueInPage(student.page, `document.getElementById('panic-status').dataset.alarm === 'resolved'`);
    expect(await student.page.textContent('#panic-status')).toMatch(/^Your alarm was closed by the safety team \(desk-1\) at .+: the session goes on\.$/);
    await desk.page.click(`#ack-${technical}`);
    await whenTrueInPage(desk.page, `document.getElementById('alarm-sound').dataset.alarmSound === 'off'`);
    await desk.page.selectOption(`#outcome-${technical}`, 'continued');
    await desk.page.click(`#resolve-${technical}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${technical}`)}).dataset.state === 'resolved'`);
    expect(server.handle.panic.openIncidents()).toEqual([]);
    const errors = [...student.logs, ...clinician.logs, ...desk.logs].filter((l) => l.includes('pageerror'));
    expect(errors).toEqual([]);
  }, 60_000);

  it('with desktop Chrome\'s autoplay policy, a desk opened from its link (no gesture yet) shows "sound blocked: click to enable" for an alarm, and that click starts the tone', async () => {
    // Playwright's evaluate calls count as a user gesture in the page, and so would unlock the
    // sound: the alarm is raised first, the desk opened after, and the page is left alone (no
    // evaluate) until its replayed alarm has been shown; an init script records the sound states.
    const stock = await launchChromium([...STOCK_CHROMIUM_FLAGS, '--autoplay-policy=document-user-activation-required']);
    try {
      const id = await raise('safety');
      const context = await stock.newContext();
      await context.addInitScript(`(() => {
        const states = (window.__soundStates = []);
        document.addEventListener('DOMContentLoaded', () => {
          const el = document.getElementById('alarm-sound');
          const note = () => { if (states.at(-1) !== el.dataset.alarmSound) states.push(el.dataset.alarmSound); };
          note();
          new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-alarm-sound'] });
        });
      })()`);
      const page = await context.newPage();
      await page.goto(`${server.url}/desk.html#${new URLSearchParams({ token: deskToken }).toString()}`);
      // Waits on the page's own state: the alarm shown and its sound reported blocked.
      await page.waitForFunction(`document.getElementById('incident-${id}') !== null && (window.__soundStates ?? []).includes('blocked')`, undefined, { timeout: 10_000 });
      expect(await page.evaluate('window.__soundStates')).toEqual(['off', 'blocked']);
      expect(await page.isVisible(`#incident-${id}`)).toBe(true);
      expect(await page.evaluate('window.safetyDesk.sound()')).toMatchObject({ state: 'blocked', context: 'suspended', oscillator: false });
      expect(await page.isVisible('#alarm-sound-enable')).toBe(true);
      expect(await page.textContent('#announcer')).toMatch(/blocking the alarm sound/);
      await page.click('#alarm-sound-enable');
      await whenTrueInPage(page, `document.getElementById('alarm-sound').dataset.alarmSound === 'playing'`);
      expect(await page.isVisible('#alarm-sound-enable')).toBe(false);
      expect(await page.evaluate('window.safetyDesk.sound()')).toMatchObject({ context: 'running', oscillator: true });
      const done = await raw.send('panic:resolve', { incidentId: id, outcome: 'false-alarm', acknowledge: true });
      expect(done.ok).toBe(true);
    } finally {
      await stock.close();
    }
  }, 60_000);
});
