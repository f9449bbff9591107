import { describe, expect, it } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { englishLeft } from '../helpers/english-left.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { chromiumFor, fillFormAndJoin, openClient, openDesk, useServerAndBrowser, waitForState } from '../helpers/browser.ts';

/**
 * Issue #15, the pages in English and Spanish, in real Chromium: a browser set to Spanish
 * (`locale: 'es-ES'`, so `navigator.languages` starts with es) gets the pages in Spanish ("tú" on
 * the student's page, "usted" on the clinician's), `<html lang="es">`; the language selector
 * switches a page in the middle of a call to English without a reload (same participant, still
 * joined), and the choice is remembered across a reload. The desk page likewise.
 */
const available = chromiumFor('the language e2e test');

const ROOM = 'e2e-language';
const SPANISH = { locale: 'es-ES' };

describe.skipIf(!available)('the pages in Spanish, switchable to English (issue #15)', () => {
  const env = useServerAndBrowser();

  it('a Spanish browser gets the participant page in Spanish; the selector switches to English mid-call without a reload; the choice is kept', async () => {
    const policy = env.server.handle.config.consent.policyVersions[0]!;
    const student = await openClient(env.browser, env.server.url, 'student', { token: env.server.mint(ROOM, 'student-1', 'student'), policy }, { join: false, context: SPANISH });
    const clinician = await openClient(env.browser, env.server.url, 'clinician', { token: env.server.mint(ROOM, 'clinician-1', 'clinician'), policy }, { join: false, context: SPANISH });
    const sp = student.page;
    await sp.waitForSelector('#prejoin', { state: 'visible' });
    await clinician.page.waitForSelector('#prejoin', { state: 'visible' });

    expect(await sp.getAttribute('html', 'lang')).toBe('es');
    expect(await sp.title()).toBe('Sesión de teleterapia');
    expect(await sp.textContent('#prejoin-title')).toBe('Antes de entrar');
    expect(await sp.textContent('#status')).toBe('Todo listo para entrar');
    expect(await sp.textContent('#prejoin-who')).toMatch(/^Entras como: Estudiante\. Este enlace funciona hasta el /);
    expect(await sp.textContent('#join')).toBe('Entrar a la sesión');
    expect(await sp.inputValue('#language')).toBe('es');
    // The student is spoken to as "tú", the clinician as "usted".
    expect(await sp.textContent('#where legend')).toBe('¿Dónde estás ahora?');
    expect(await clinician.page.textContent('#where legend')).toBe('¿Dónde está en este momento?');
    expect(await englishLeft(sp)).toEqual([]);
    expect(await englishLeft(clinician.page)).toEqual([]);
    // Options and attributes too.
    expect(await sp.textContent('#loc-region option[value=""]')).toBe('Elige tu estado o región…');
    expect(await sp.getAttribute('#loc-description', 'placeholder')).toBe('Tu escuela y salón, o la dirección de tu casa');

    // The call, in Spanish (the clinician too: the student's page has a tile of the other side).
    await fillFormAndJoin(clinician.page);
    await fillFormAndJoin(sp);
    await waitForState(student, 'joined');
    await waitForState(clinician, 'joined');
    await sp.waitForSelector('[data-participant-id] .label');
    expect(await sp.textContent('[data-participant-id] .label')).toBe('Terapeuta');
    expect(await englishLeft(sp)).toEqual([]);
    expect(await sp.textContent('#status')).toBe('En la sesión');
    expect(await sp.textContent('#panic')).toBe('Pedir ayuda ahora');
    expect(await sp.textContent('#leave')).toBe('Salir de la sesión');
    const participantId = await student.participantId();

    // Switch to English: the same page (no reload), the same session.
    await sp.evaluate('window.notReloaded = true');
    await sp.selectOption('#language', 'en');
    await sp.waitForFunction('document.documentElement.lang === "en"');
    expect(await sp.title()).toBe('Telepractice session');
    expect(await sp.textContent('#status')).toBe('In the session');
    expect(await sp.textContent('#panic')).toBe('Get help now');
    expect(await sp.textContent('#leave')).toBe('Leave session');
    expect(await sp.textContent('#consent-area-title')).toBe('Your consent');
    expect(await sp.textContent('#panic-kind option[value="medical"]')).toBe('Medical');
    expect(await sp.evaluate('window.notReloaded')).toBe(true);
    expect(await student.state()).toBe('joined');
    expect(await student.participantId()).toBe(participantId);
    expect(await sp.evaluate('localStorage.getItem("sfu.language.v1")')).toBe('en');

    // The choice outlives a reload (which resumes the call), though the browser still says Spanish.
    await sp.reload();
    await waitForState(student, 'joined');
    expect(await sp.getAttribute('html', 'lang')).toBe('en');
    expect(await sp.textContent('#leave')).toBe('Leave session');
    expect(await student.participantId()).toBe(participantId);

    // And back to Spanish: nothing English is left on the page (tiles, buttons, the consent area, the panic panel).
    await sp.selectOption('#language', 'es');
    await sp.waitForFunction('document.documentElement.lang === "es"');
    expect(await sp.textContent('#leave')).toBe('Salir de la sesión');
    expect(await sp.textContent('#panic-kind option[value="medical"]')).toBe('Médica');
    expect(await englishLeft(sp)).toEqual([]);

    const errors = [...student.logs, ...clinician.logs].filter((l) => l.includes('pageerror'));
    expect(errors).toEqual([]);
  }, 90_000);

  it('the desk page in Spanish, then English', async () => {
    const desk = await openDesk(env.browser, env.server.url, mintDeskToken(TEST_SECRET, { identity: 'desk-1', rooms: ['*'] }), 'desk', { context: SPANISH });
    const page = desk.page;
    await page.waitForFunction('window.safetyDesk.state === "connected"');
    expect(await page.getAttribute('html', 'lang')).toBe('es');
    expect(await page.title()).toBe('Central de seguridad');
    expect(await page.textContent('#status')).toBe('Conectado');
    expect(await page.textContent('#incidents-title')).toMatch(/^Alarmas abiertas/);
    expect(await page.textContent('#alarm-mute')).toBe('Silenciar la alarma');
    expect(await page.textContent('#desk-who')).toBe('Sesión iniciada como desk-1; salas: todas');
    expect(await englishLeft(page)).toEqual([]);

    await page.selectOption('#language', 'en');
    await page.waitForFunction('document.documentElement.lang === "en"');
    expect(await page.title()).toBe('Safety desk');
    expect(await page.textContent('#status')).toBe('Connected');
    expect(await page.textContent('#incidents-title')).toMatch(/^Open alarms/);
    expect(await page.textContent('#alarm-mute')).toBe('Mute alarm sound');
    expect(await page.textContent('#desk-who')).toBe('Signed in as desk-1; rooms: all');
    expect(await page.evaluate('window.safetyDesk.state')).toBe('connected');
  }, 60_000);
});
