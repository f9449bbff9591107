import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { en } from '../../src/client/i18n/en.ts';
import { es } from '../../src/client/i18n/es.ts';
import { esChild } from '../../src/client/i18n/es-child.ts';
import { format, placeholders, type Entry } from '../../src/client/i18n/catalogue.ts';
import { pickLanguage, setLanguage, t, tDynamic } from '../../src/client/i18n/language.ts';
import { errorText, linkProblemText, statusText } from '../../src/client/messages.ts';
import { raiserAcknowledgedText } from '../../src/client/alarm-urgency.ts';

/** The pages' catalogues (src/client/i18n/): every language says everything, with the same placeholders. */

const catalogues: Record<string, Record<string, Entry>> = { es, 'es (student page)': esChild };

afterEach(() => setLanguage('en', 'adult'));

describe('the catalogues', () => {
  it('Spanish has exactly the English keys', () => {
    expect(Object.keys(es).sort()).toEqual(Object.keys(en).sort());
  });

  it('the student page\'s overrides are keys of the catalogue', () => {
    for (const key of Object.keys(esChild)) expect(Object.keys(en), key).toContain(key);
  });

  it('no message is empty or only spaces, in any language or plural form', () => {
    for (const [name, catalogue] of Object.entries({ en, ...catalogues } as Record<string, Record<string, Entry>>)) {
      for (const [key, entry] of Object.entries(catalogue)) {
        const forms = typeof entry === 'string' ? [entry] : [entry.one, entry.other];
        for (const form of forms) expect(form.trim(), `${name}: ${key}`).not.toBe('');
      }
    }
  });

  it('each message has the same placeholders in every language, and plurals stay plurals', () => {
    for (const [name, catalogue] of Object.entries(catalogues)) {
      for (const [key, entry] of Object.entries(catalogue)) {
        const reference = (en as Record<string, Entry>)[key]!;
        expect(placeholders(entry), `${name}: ${key}`).toEqual(placeholders(reference));
        expect(typeof entry, `${name}: ${key}`).toBe(typeof reference);
      }
    }
  });

  it('a message filled in leaves no placeholder behind', () => {
    for (const [key, entry] of Object.entries({ ...en, ...es })) {
      const params = Object.fromEntries(placeholders(entry).map((p) => [p, p === 'n' ? 2 : `<${p}>`]));
      expect(format(entry, 'es', params), key).not.toMatch(/\{\w+\}/);
    }
  });
});

describe('the language', () => {
  it('a remembered choice wins; else the first browser language we have; else English', () => {
    expect(pickLanguage('es', ['en-US'])).toBe('es');
    expect(pickLanguage('en', ['es-MX'])).toBe('en');
    expect(pickLanguage(null, ['es-MX', 'en-US'])).toBe('es');
    expect(pickLanguage(null, ['fr-FR', 'es-ES'])).toBe('es');
    expect(pickLanguage(null, ['en-GB', 'es'])).toBe('en');
    expect(pickLanguage(null, ['de', 'fr'])).toBe('en');
    expect(pickLanguage('xx', [])).toBe('en');
  });

  it('says the same thing in the chosen language, plurals by number', () => {
    expect(t('banner.more', { n: 1 })).toBe('1 more open alarm in this session.');
    expect(t('banner.more', { n: 3 })).toBe('3 more open alarms in this session.');
    setLanguage('es');
    expect(t('banner.more', { n: 1 })).toBe('1 alarma abierta más en esta sesión.');
    expect(t('banner.more', { n: 3 })).toBe('3 alarmas abiertas más en esta sesión.');
    expect(statusText('error:TOKEN_INVALID')).toBe('Sin conexión');
    expect(linkProblemText('TOKEN_EXPIRED')).toBe('Este enlace ya venció. Pida uno nuevo al terapeuta o a la escuela que se lo envió.');
    expect(errorText('NO_SUCH_CODE')).toMatch(/^Algo salió mal \(NO_SUCH_CODE\)/);
    expect(tDynamic('error.NO_SUCH_CODE', {}, 'fallback')).toBe('fallback');
  });

  it('the student\'s page speaks to the student as "tú"; the clinician\'s page as "usted"', () => {
    setLanguage('es', 'adult');
    expect(t('form.where')).toBe('¿Dónde está en este momento?');
    const doc = { identity: 'clinician-1', role: 'clinician' as const };
    expect(raiserAcknowledgedText(doc, '10:00', false)).toBe('Su terapeuta (clinician-1) tiene su alarma desde las 10:00 y está respondiendo.');
    setLanguage('es', 'child');
    expect(t('form.where')).toBe('¿Dónde estás ahora?');
    expect(raiserAcknowledgedText(doc, '10:00', false)).toBe('Tu terapeuta (clinician-1) tiene tu alarma desde las 10:00 y te está ayudando.');
    // English has one form for both.
    setLanguage('en', 'child');
    expect(t('form.where')).toBe('Where are you right now?');
  });
});

describe('the words live in the catalogues', () => {
  it('no client source writes a literal word into the page (text, labels, titles, placeholders, options, notices)', () => {
    const dir = new URL('../../src/client/', import.meta.url);
    const writes = /(?:textContent|\.label|\.title|placeholder)\s*=\s*['"`][A-Za-z]|setAttribute\('(?:aria-label|title|placeholder)', ['"`]|new Option\(['"`][A-Za-z]|emit\('notice', ['"`]/;
    const found: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      readFileSync(new URL(f, dir), 'utf8').split('\n').forEach((line, i) => { if (writes.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`); });
    }
    expect(found).toEqual([]);
  });

  it('every data-i18n key of the pages is in the catalogue', () => {
    for (const page of ['index.html', 'desk.html']) {
      const html = readFileSync(new URL(`../../src/client/${page}`, import.meta.url), 'utf8');
      const keys = [...html.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1]!)
        .concat([...html.matchAll(/data-i18n-attr="([^"]+)"/g)].flatMap((m) => m[1]!.split(';').map((pair) => pair.split(':')[1]!.trim())));
      expect(keys.length, page).toBeGreaterThan(5);
      for (const key of keys) expect(Object.keys(en), `${page}: ${key}`).toContain(key);
    }
  });
});
