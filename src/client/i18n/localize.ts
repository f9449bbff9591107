/**
 * Puts the catalogue's words on the page, and again whenever the language changes (no reload:
 * the session, the form's input and the alarms stay as they are).
 *
 * - Static text of the HTML: `data-i18n="key"` (the element's text) and
 *   `data-i18n-attr="aria-label:key;placeholder:key"` (attributes).
 * - Text the code writes: `setText(el, () => t(...))` / `setAttr(el, name, () => t(...))` /
 *   `bind(el, slot, apply)` run the function now and keep it on the element (a WeakMap: an element
 *   that is dropped takes it along); a language change runs them again for every element in the
 *   document. Code that writes an element's words through these never writes them directly.
 * - `<html lang>` follows the language.
 */
import { currentLanguage, hasKey, onLanguageChange, t } from './language.ts';

const bound = new WeakMap<Element, Map<string, () => void>>();

/** Runs `apply` now and again on every language change while `el` is in the document; one `slot` per thing it writes. */
export function bind(el: Element, slot: string, apply: () => void): void {
  let slots = bound.get(el);
  if (!slots) bound.set(el, slots = new Map());
  slots.set(slot, apply);
  apply();
}

/** The element's text, in the current language now and after a change. */
export function setText(el: Element, text: () => string): void {
  bind(el, 'text', () => { el.textContent = text(); });
}

/** An attribute (aria-label, title, placeholder...), in the current language now and after a change. */
export function setAttr(el: Element, name: string, text: () => string): void {
  bind(el, `@${name}`, () => el.setAttribute(name, text()));
}

/** Fills `data-i18n` and `data-i18n-attr` elements under `root` (the root included). */
export function translateStatic(root: Element): void {
  for (const e of [root, ...root.querySelectorAll('[data-i18n], [data-i18n-attr]')]) translateElement(e);
}

function translateElement(e: Element): void {
  const key = e.getAttribute('data-i18n');
  if (key && hasKey(key)) e.textContent = t(key as never);
  for (const pair of (e.getAttribute('data-i18n-attr') ?? '').split(';')) {
    const [name, k] = pair.split(':').map((s) => s.trim());
    if (name && k && hasKey(k)) e.setAttribute(name, t(k as never));
  }
}

/** The whole document in the current language: `<html lang>`, static text, then every bound element (document order). */
export function relocalize(): void {
  document.documentElement.lang = currentLanguage();
  for (const e of document.querySelectorAll('*')) {
    translateElement(e);
    for (const apply of bound.get(e)?.values() ?? []) apply();
  }
}

/** Call once, before the page's components are made: renders now and on every change. */
export function startLocalization(): void {
  relocalize();
  onLanguageChange(relocalize);
}
