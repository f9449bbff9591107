/**
 * The shape of a page catalogue (i18n/en.ts is the reference; every other language has exactly its
 * keys, checked by TypeScript and by test/unit/client-i18n.test.ts) and how its messages are
 * filled in. No DOM, no browser: unit-tested in Node.
 *
 * An entry is a string with `{name}` placeholders, or a plural: `{ one, other }`, chosen by
 * `Intl.PluralRules` for the number `{n}` (a category a language lacks falls back to `other`).
 */
import type { en } from './en.ts';

export type Plural = { readonly one: string; readonly other: string };
export type Entry = string | Plural;

/** The English catalogue with its literal strings widened: what every other language must give. */
type Widen<T> = T extends string ? string : { readonly [K in keyof T]: Widen<T[K]> };
export type Catalogue = { readonly [K in keyof typeof en]: Widen<(typeof en)[K]> };
export type Key = keyof typeof en;
/** Keys whose message has no placeholders. */
export type PlainKey = { [K in Key]: ParamsArg<K> extends [] ? K : never }[Key];

/** The placeholders of a template: `'{role} at {time}'` -> `'role' | 'time'`. */
type Holes<S> = S extends `${string}{${infer P}}${infer R}` ? P | Holes<R> : never;
type HolesOf<E> = E extends string ? Holes<E> : E extends Plural ? Holes<E['one']> | Holes<E['other']> | 'n' : never;

/** What a key's message needs: its placeholders (and `n` for a plural). */
export type Params<K extends Key> = { readonly [P in HolesOf<(typeof en)[K]>]: P extends 'n' ? number : string | number };
/** `t(key)` for a message without placeholders, `t(key, params)` otherwise. */
export type ParamsArg<K extends Key> = [HolesOf<(typeof en)[K]>] extends [never] ? [] : [params: Params<K>];

/** The placeholder names of an entry (both plural forms), sorted: the unit test compares them between languages. */
export function placeholders(entry: Entry): string[] {
  const texts = typeof entry === 'string' ? [entry] : [entry.one, entry.other];
  const names = new Set<string>();
  for (const text of texts) for (const m of text.matchAll(/\{(\w+)\}/g)) names.add(m[1]!);
  if (typeof entry !== 'string') names.add('n');
  return [...names].sort();
}

/** Fills `{name}` placeholders; a plural entry picks its form for `params.n` in `lang`. */
export function format(entry: Entry, lang: string, params: Readonly<Record<string, string | number>> = {}): string {
  const text = typeof entry === 'string' ? entry : pluralForm(entry, lang, Number(params.n ?? 0));
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

const rules = new Map<string, Intl.PluralRules>();

function pluralForm(entry: Plural, lang: string, n: number): string {
  let r = rules.get(lang);
  if (!r) rules.set(lang, r = new Intl.PluralRules(lang));
  return r.select(n) === 'one' ? entry.one : entry.other;
}
