/**
 * The page's language and its words: `t(key, params)` says a message of the catalogue of the
 * current language (i18n/en.ts, i18n/es.ts). The language comes from the person's choice (kept in
 * localStorage by language-picker.ts), else the browser's (`navigator.languages`: the first one we
 * have; none: English). No DOM here; localize.ts re-renders the page when the language changes.
 *
 * Spanish speaks to adults as "usted"; the student's page (audience `child`) uses "tú" where it
 * speaks to the student (i18n/es-child.ts overrides those messages only).
 */
import { format, type Catalogue, type Entry, type Key, type ParamsArg } from './catalogue.ts';
import { en } from './en.ts';
import { es } from './es.ts';
import { esChild } from './es-child.ts';

/** The languages of the pages, each named in itself (the selector shows these names). */
export const LANGUAGES = { en: 'English', es: 'Español' } as const;
export type Language = keyof typeof LANGUAGES;
/** Who the page speaks to: `child` on a student's page (informal Spanish), `adult` otherwise. */
export type Audience = 'adult' | 'child';

const CATALOGUES: Readonly<Record<Language, Catalogue>> = { en, es };
const CHILD: Readonly<Record<Language, Partial<Catalogue>>> = { en: {}, es: esChild };

let language: Language = 'en';
let audience: Audience = 'adult';
const listeners = new Set<() => void>();

export function isLanguage(v: unknown): v is Language {
  return typeof v === 'string' && Object.hasOwn(LANGUAGES, v);
}

/** A stored choice wins; else the first of the browser's languages that we have (`es-MX` -> es); else English. */
export function pickLanguage(stored: string | null | undefined, browser: readonly string[]): Language {
  if (isLanguage(stored)) return stored;
  for (const tag of browser) {
    const base = tag.toLowerCase().split('-')[0];
    if (isLanguage(base)) return base;
  }
  return 'en';
}

export function currentLanguage(): Language {
  return language;
}

/** Changes the language (and the audience); listeners (localize.ts) re-render the page. */
export function setLanguage(next: Language, nextAudience: Audience = audience): void {
  if (next === language && nextAudience === audience) return;
  language = next;
  audience = nextAudience;
  for (const fn of listeners) fn();
}

export function setAudience(next: Audience): void {
  setLanguage(language, next);
}

export function onLanguageChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function entry(key: Key): Entry {
  return (audience === 'child' ? CHILD[language][key] : undefined) ?? CATALOGUES[language][key];
}

/** A message of the current language, its placeholders filled. */
export function t<K extends Key>(key: K, ...params: ParamsArg<K>): string {
  return format(entry(key), language, params[0] as Readonly<Record<string, string | number>> | undefined);
}

/** Whether a key computed at run time (`error.${code}`) is in the catalogue. */
export function hasKey(key: string): key is Key {
  return Object.hasOwn(en, key);
}

/** A message for a key computed at run time; `fallback` when the catalogue has no such key. */
export function tDynamic(key: string, params: Readonly<Record<string, string | number>>, fallback: string): string {
  return hasKey(key) ? format(entry(key), language, params) : fallback;
}

/**
 * The locales dates and times are written in: the browser's own (its region's conventions) when
 * they are of the page's language, else the language itself.
 */
export function formatLocales(): string[] {
  const browser = typeof navigator === 'undefined' ? [] : [...navigator.languages];
  const same = browser.filter((tag) => tag.toLowerCase().split('-')[0] === language);
  return same.length > 0 ? same : [language];
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** A date/time formatter for the current language, made once per language and options (the first use of a locale is slow). */
export function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const id = `${language}|${JSON.stringify(options)}`;
  let f = formats.get(id);
  if (!f) formats.set(id, f = new Intl.DateTimeFormat(formatLocales(), options));
  return f;
}
