import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import {
  buildClient,
  chromiumFor,
  launchChromium,
  openClient,
  openDesk,
  pollUntil,
  waitForState,
  whenTrueInPage,
  armProbe,
  probeTime,
  TEST_SAFETY_FORM,
  type ClientPage,
  type DeskPage,
} from '../helpers/browser.ts';
import { observeFor } from '../helpers/until.ts';

/**
 * The panic channel end to end, in real Chromium against a real server: a student presses the
 * panic button; their clinician (alert banner) and the safety desk page (/desk.html) see where
 * they are and whom to call within a second; an acknowledgement stops escalation; an alarm still
 * open when the server restarts is shown to a desk that connects to the new server, and resolved
 * there. Three pages at most: student, clinician, desk.
 */
const available = chromiumFor('the panic e2e tests');

const ROOM = 'e2e-panic-room';
/** Tier 1 (desk only) after this long unacknowledged: room for test 1's checks before the clinician acknowledges. */
const ESCALATE_AFTER_S = 5;
const SAFETY = {
  safety: {
    tiers: [
      { afterSeconds: 0, notify: ['room-clinicians', 'desk'] },
      { afterSeconds: ESCALATE_AFTER_S, notify: ['desk'] },
    ],
  },
};
const LOCATION_TEXT = `${TEST_SAFETY_FORM.place} (${TEST_SAFETY_FORM.region})`;

function link(server: TestServer, identity: string, role: 'clinician' | 'student') {
  return { token: server.mint(ROOM, identity, role), policy: server.handle.config.consent.policyVersions[0]! };
}

const js = (v: unknown) => JSON.stringify(v);

/** Page expression: the clinician's banner is on screen with this location. */
const bannerShows = (incidentId?: string) => `(() => {
  const b = document.getElementById('panic-banner');
  if (!b || b.hidden || !b.checkVisibility()) return false;
  if (${js(incidentId ?? null)} !== null && b.dataset.incidentId !== ${js(incidentId ?? null)}) return false;
  return document.getElementById('panic-location').textContent.includes(${js(LOCATION_TEXT)});
})()`;

/** Page expression: the desk has an open row with this location (and this id, when given). */
const deskRowShows = (incidentId?: string) => `(() => {
  const rows = ${incidentId ? `[document.getElementById(${js(`incident-${incidentId}`)})]` : `[...document.querySelectorAll('#incident-rows tr[data-state="open"]')]`};
  return rows.some((r) => r && r.checkVisibility() && r.querySelector('.location').textContent.includes(${js(LOCATION_TEXT)}));
})()`;

describe.skipIf(!available)('panic button, clinician banner and safety desk in the browser', () => {
  let dataDir: string;
  let first: TestServer;
  let second: TestServer | undefined;
  let firstClosed = false;
  let browser: Browser;
  let student: ClientPage;
  let clinician: ClientPage;
  let desk: DeskPage;
  const deskToken = mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] });
  let firstIncident: string;
  let secondIncident: string;

  beforeAll(async () => {
    buildClient();
    // Our own data dir: the incidents in it must outlive the first server.
    dataDir = mkdtempSync(join(tmpdir(), 'sfu-panic-e2e-'));
    first = await startServer({ dataDir, ...SAFETY });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (!firstClosed) await first?.close();
    await second?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('a silent alarm reaches the clinician\'s banner and the desk within 1 s, with the student\'s location; the student sees no banner', async () => {
    [student, clinician] = await Promise.all([
      openClient(browser, first.url, 'student', link(first, 'student-1', 'student')),
      openClient(browser, first.url, 'clinician', link(first, 'clinician-1', 'clinician')),
    ]);
    desk = await openDesk(browser, first.url, deskToken);
    await Promise.all([waitForState(student, 'joined'), waitForState(clinician, 'joined')]);
    // Both pages opened their /safety connection once joined.
    for (const c of [student, clinician]) {
      await pollUntil(`${c.name}'s /safety connection`, () => c.page.evaluate('window.sfuClient.panic().channel') as Promise<string>, (s) => s === 'connected');
    }
    expect(await student.page.isVisible('#panic')).toBe(true);
    expect(await student.page.inputValue('#panic-kind')).toBe('safety');
    expect(await desk.incidents()).toEqual([]);

    await student.page.check('#panic-silent');
    // Timed inside the pages, on the machine's one clock: from the click (the button's handler) to
    // the first painted frame showing the alarm with the student's location.
    await armProbe(clinician.page, 'alarm', bannerShows());
    await armProbe(desk.page, 'alarm', deskRowShows());
    const clickedAt = performance.now();
    await student.page.click('#panic');
    const [clinicianAt, deskAt] = await Promise.all([probeTime(clinician.page, 'alarm'), probeTime(desk.page, 'alarm')]);
    const roundTrip = Math.round(performance.now() - clickedAt);
    await pollUntil('the student\'s alarm to be acknowledged by the server', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean }>, (p) => p.acked);
    const mine = await student.page.evaluate('window.sfuClient.panic()') as { acked: boolean; lastIncidentId: string; attempts: number; pressedAt: number; ackedAt: number };
    firstIncident = mine.lastIncidentId;
    // Silent: the raiser sees only a small "Sent." (it fades after a few seconds).
    expect(await student.page.getAttribute('#panic-status', 'data-silent')).toBe('true');
    expect(await student.page.textContent('#panic-status')).toBe('Sent.');
    const toClinician = clinicianAt - mine.pressedAt;
    const toDesk = deskAt - mine.pressedAt;
    console.info(JSON.stringify({ measure: 'panic-click-to-clinician-ms', value: toClinician }));
    console.info(JSON.stringify({ measure: 'panic-click-to-desk-ms', value: toDesk }));
    console.info(JSON.stringify({ measure: 'panic-click-to-server-ack-ms', value: mine.ackedAt - mine.pressedAt }));
    // For scale: Playwright's click plus polling both pages from the test process, end to end.
    console.info(JSON.stringify({ measure: 'panic-click-to-both-visible-test-process-ms', value: roundTrip }));
    // Strictly after the press (the alarm crosses the server to another page and is painted there),
    // and within the 1 s the issue asks for.
    expect(toClinician).toBeGreaterThan(0);
    expect(toClinician).toBeLessThan(1000);
    expect(toDesk).toBeGreaterThan(0);
    expect(toDesk).toBeLessThan(1000);
    const alerts = await clinician.page.evaluate('window.sfuClient.alerts()') as { shown: string; incidents: { id: string }[]; events: { event: string; at: number }[] };
    // Where the time goes: the alarm's arrival in each page (socket.io / signalling), before rendering.
    console.info(JSON.stringify({ measure: 'panic-click-to-clinician-event-ms', value: Math.min(...alerts.events.map((e) => e.at)) - mine.pressedAt,
      by: Object.fromEntries(alerts.events.map((e) => [e.event, e.at - mine.pressedAt])) }));
    console.info(JSON.stringify({ measure: 'panic-click-to-desk-event-ms', value: (await desk.events())[0]!.at - mine.pressedAt }));
    expect(mine.attempts).toBe(1);

    // The clinician's banner: kind, who (by role), where, whom to call.
    expect(alerts.shown).toBe(firstIncident);
    const banner = await clinician.page.textContent('#panic-banner');
    expect(banner).toContain('Safety (silent alarm)');
    expect(await clinician.page.textContent('#panic-who')).toMatch(/^Student/);
    expect(await clinician.page.textContent('#panic-location')).toContain(LOCATION_TEXT);
    expect(await clinician.page.textContent('#panic-contact')).toBe(`${TEST_SAFETY_FORM.contactName}, ${TEST_SAFETY_FORM.contactPhone}`);
    expect(await clinician.page.getAttribute('#panic-banner', 'data-state')).toBe('open');
    expect(banner).not.toContain('Test Guardian');

    // The desk's row, by incident id: room, kind, role + identity, where, contact, state, tier.
    const row = desk.page.locator(`#incident-${firstIncident}`);
    expect(await row.getAttribute('data-state')).toBe('open');
    expect(await row.locator('.room').textContent()).toBe(ROOM);
    expect(await row.locator('.kind').textContent()).toBe('Safety (silent)');
    expect(await row.locator('.who').textContent()).toBe('Student · student-1');
    expect(await row.locator('.contact').textContent()).toBe(`${TEST_SAFETY_FORM.contactName}, ${TEST_SAFETY_FORM.contactPhone}`);
    expect(await row.locator('.tier').textContent()).toBe('0');
    expect(await row.locator('button.ack').isVisible()).toBe(true);
    expect(await row.locator('button.resolve').isVisible()).toBe(true);

    // And no banner on the student's page, nor any alert event.
    expect(await student.page.isVisible('#panic-banner')).toBe(false);
    expect((await student.page.evaluate('window.sfuClient.alerts()') as { events: unknown[] }).events).toEqual([]);
  }, 90_000);

  it('the clinician acknowledges: the desk shows it, and nothing escalates after the tier time', async () => {
    await clinician.page.click('#panic-ack');
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${firstIncident}`)})?.dataset.state === 'acknowledged'`);
    expect(await desk.page.textContent(`#incident-${firstIncident} .state`)).toMatch(/^Acknowledged by clinician \(clinician-1\)/);
    await whenTrueInPage(clinician.page, `document.getElementById('panic-banner').dataset.state === 'acknowledged'`);
    expect(await clinician.page.isVisible('#panic-ack')).toBe(false);
    expect(await clinician.page.isVisible('#panic-resolve')).toBe(true);
    // The desk's own Acknowledge button is gone too.
    expect(await desk.page.isVisible(`#incident-${firstIncident} button.ack`)).toBe(false);

    // Past the escalation tier (raisedAt + ESCALATE_AFTER_S, with a margin): no escalation anywhere.
    const { raisedAt, acknowledgedAt } = first.handle.panic.openIncidents().find((i) => i.id === firstIncident)!;
    // (Acknowledged before the tier was due, or this check would prove nothing.)
    expect(Date.parse(acknowledgedAt!) - Date.parse(raisedAt)).toBeLessThan(ESCALATE_AFTER_S * 1000);
    // A deliberate observation window: escalation must NOT happen, so there is no event to await;
    // watch until a second past the tier's due time, then check strictly that nothing came.
    const waitMs = Date.parse(raisedAt) + ESCALATE_AFTER_S * 1000 + 1000 - Date.now();
    if (waitMs > 0) await observeFor(waitMs);
    const deskEvents = await desk.events();
    expect(deskEvents.filter((e) => e.event === 'panic:escalated')).toEqual([]);
    expect(deskEvents.filter((e) => e.event === 'panic:alert').map((e) => e.tier)).toEqual([0]);
    const clinicianEvents = (await clinician.page.evaluate('window.sfuClient.alerts()') as { events: { event: string }[] }).events;
    expect(clinicianEvents.filter((e) => e.event === 'panic:escalated')).toEqual([]);
    expect(await desk.page.textContent(`#incident-${firstIncident} .tier`)).toBe('0');
    expect(await desk.page.getAttribute(`#incident-${firstIncident}`, 'data-state')).toBe('acknowledged');
    expect(first.handle.panic.openIncidents().find((i) => i.id === firstIncident)!.tier).toBe(0);
  }, 30_000);

  it('an alarm pressed while offline is retried until the server has it (once), and the clinician resolves it', async () => {
    const context = student.page.context();
    await context.setOffline(true);
    await student.page.uncheck('#panic-silent');
    await student.page.selectOption('#panic-kind', 'other');
    await student.page.click('#panic');
    // Past the first attempt's timeout: still unanswered, sent again, and the student is told.
    const pending = await pollUntil('a second attempt while offline', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; attempts: number; clientIncidentId: string }>,
      (p) => p.attempts >= 2, { timeoutMs: 10_000 });
    expect(pending.acked).toBe(false);
    expect(await student.page.textContent('#panic-status')).toMatch(/Still sending the alarm/);
    expect((await desk.incidents()).map((i) => i.id)).toEqual([firstIncident]);

    await context.setOffline(false);
    const mine = await pollUntil('the alarm to reach the server once back online', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string; clientIncidentId: string; attempts: number }>,
      (p) => p.acked, { timeoutMs: 15_000 });
    expect(mine.clientIncidentId).toBe(pending.clientIncidentId);
    expect(first.handle.panic.openIncidents().filter((i) => i.clientIncidentId === mine.clientIncidentId).map((i) => i.id)).toEqual([mine.lastIncidentId]);
    const offlineIncident = mine.lastIncidentId!;
    console.info(JSON.stringify({ measure: 'panic-offline-attempts', value: mine.attempts }));
    await whenTrueInPage(desk.page, deskRowShows(offlineIncident));
    // The new, unacknowledged alarm takes the clinician's banner from the acknowledged one.
    await whenTrueInPage(clinician.page, bannerShows(offlineIncident));
    expect(await clinician.page.textContent('#panic-banner-kind')).toBe('Other');

    // Acknowledge before resolve (issue #15): Resolve is enabled only after it, with an outcome chosen.
    expect(await clinician.page.isDisabled('#panic-resolve')).toBe(true);
    await clinician.page.click('#panic-ack');
    await whenTrueInPage(clinician.page, `document.getElementById('panic-banner').dataset.state === 'acknowledged'`);
    await clinician.page.selectOption('#panic-outcome', 'continued');
    await clinician.page.click('#panic-resolve');
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${offlineIncident}`)})?.dataset.state === 'resolved'`);
    expect(await desk.page.textContent(`#incident-${offlineIncident} .state`)).toMatch(/^Resolved: Session continued, by clinician \(clinician-1\)/);
    // The banner goes back to the alarm still open (acknowledged earlier).
    await whenTrueInPage(clinician.page, bannerShows(firstIncident));
    expect(await clinician.page.getAttribute('#panic-banner', 'data-state')).toBe('acknowledged');
    expect(first.handle.panic.openIncidents().map((i) => i.id)).toEqual([firstIncident]);
    expect(await student.page.isVisible('#panic-banner')).toBe(false);
  }, 60_000);

  it('after consent withdrawal an alarm still goes out; open across a server restart, it is shown to a desk on the new server, which resolves it', async () => {
    // The student withdraws consent to video: their /safety connection stays, and so does the button.
    await student.page.click('#withdraw-consent');
    await student.page.click('#withdraw-confirm'); // the dialog's confirmation
    await pollUntil('the student to stop receiving', () => student.inboundStats(), (st) => st.length === 0);
    expect(await student.page.isVisible('#panic')).toBe(true);
    expect(await student.page.evaluate('window.sfuClient.panic().channel')).toBe('connected');

    // A second alarm, not silent this time, of another kind.
    await student.page.uncheck('#panic-silent');
    await student.page.selectOption('#panic-kind', 'medical');
    await student.page.click('#panic');
    const mine = await pollUntil('the second alarm to be acknowledged by the server', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string }>,
      (p) => p.acked && p.lastIncidentId !== firstIncident);
    secondIncident = mine.lastIncidentId!;
    await whenTrueInPage(desk.page, deskRowShows(secondIncident));
    await whenTrueInPage(clinician.page, bannerShows(secondIncident)); // the unacknowledged one takes the banner
    expect(await desk.page.textContent(`#incident-${secondIncident} .kind`)).toBe('Medical');
    expect(await clinician.page.textContent('#panic-more')).toMatch(/1 more open alarm/);
    expect(await student.page.textContent('#panic-status')).toMatch(/Alarm sent/);
    expect(await student.page.isVisible('#panic-banner')).toBe(false);

    // Restart: the first server goes away (the old desk page with it), a new one opens on the same data.
    await desk.page.context().close();
    await first.handle.close();
    firstClosed = true;
    second = await startServer({ dataDir, ...SAFETY });
    desk = await openDesk(browser, second.url, deskToken, 'desk-after-restart');

    // Replayed on connection: both alarms are still open; the acknowledged one says so.
    await whenTrueInPage(desk.page, deskRowShows(secondIncident));
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${firstIncident}`)})?.dataset.state === 'acknowledged'`);
    // One replay per open incident on this connection. The second alarm's tier-1 escalation
    // (raisedAt + ESCALATE_AFTER_S) is a panic:alert of its own (tier 1, not a replay): on a loaded
    // machine the restart can take that long, and it then arrives before this check.
    const deskAlerts = (await desk.events()).filter((e) => e.event === 'panic:alert');
    const secondRaisedAt = Date.parse(second.handle.panic.openIncidents().find((i) => i.id === secondIncident)!.raisedAt);
    console.info(JSON.stringify({ measure: 'panic-raise-to-replay-checked-ms', value: Date.now() - secondRaisedAt, alerts: deskAlerts.map((e) => ({ second: e.incidentId === secondIncident, tier: e.tier, replay: e.replay ?? false })) }));
    expect(deskAlerts.filter((e) => e.replay).map((e) => e.incidentId).sort()).toEqual([firstIncident, secondIncident].sort());
    expect(deskAlerts.filter((e) => !e.replay)).toEqual(deskAlerts.filter((e) => !e.replay && e.incidentId === secondIncident && e.tier === 1).slice(0, 1));
    expect(await desk.page.getAttribute(`#incident-${secondIncident}`, 'data-state')).toBe('open');
    expect(await desk.page.textContent(`#incident-${secondIncident} .contact`)).toBe(`${TEST_SAFETY_FORM.contactName}, ${TEST_SAFETY_FORM.contactPhone}`);
    // Unacknowledged, the second alarm's escalation timer survived the restart too.
    await pollUntil('the second alarm to reach tier 1', async () => (await desk.incidents()).find((i) => i.id === secondIncident)?.tier, (t) => t === 1, { timeoutMs: (ESCALATE_AFTER_S + 3) * 1000 });
    expect(await desk.page.textContent(`#incident-${secondIncident} .tier`)).toBe('1');

    // Acknowledged, then resolved from the desk page.
    await desk.page.click(`#ack-${secondIncident}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${secondIncident}`)})?.dataset.state === 'acknowledged'`);
    await desk.page.selectOption(`#outcome-${secondIncident}`, 'false-alarm');
    await desk.page.click(`#resolve-${secondIncident}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${secondIncident}`)})?.dataset.state === 'resolved'`);
    expect(await desk.page.textContent(`#incident-${secondIncident} .state`)).toMatch(/^Resolved: False alarm, by safety desk \(desk-1\)/);
    expect(await desk.page.isVisible(`#resolve-${secondIncident}`)).toBe(false);
    expect(second.handle.panic.openIncidents().map((i) => i.id)).not.toContain(secondIncident);

    // And the first one, so the desk is clear.
    await desk.page.selectOption(`#outcome-${firstIncident}`, 'continued');
    await desk.page.click(`#resolve-${firstIncident}`);
    await whenTrueInPage(desk.page, `document.getElementById(${js(`incident-${firstIncident}`)})?.dataset.state === 'resolved'`);
    expect(second.handle.panic.openIncidents()).toEqual([]);
    expect(await desk.page.isVisible('#no-incidents')).toBe(true);
    expect(await desk.page.textContent('#open-count')).toBe('0');

    const errors = [...student.logs, ...clinician.logs, ...desk.logs].filter((l) => l.includes('pageerror'));
    expect(errors).toEqual([]);
  }, 90_000);
});
