import type { Page } from 'playwright-core';
import { en } from '../../src/client/i18n/en.ts';
import { es } from '../../src/client/i18n/es.ts';

/** English messages (whole, without placeholders) that Spanish says differently: none may be left on a Spanish page. */
const ENGLISH_ONLY = Object.entries(en)
  .filter(([key, text]) => typeof text === 'string' && !text.includes('{') && text.length >= 6 && text !== es[key as keyof typeof es])
  .map(([, text]) => text as string);

/** Whole words only ("Connect" is no English left in "Connecticut"). */
const whole = (s: string) => new RegExp(`(?<![\\w])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w])`);

/** What a page says: its visible text, its title, and the labels, placeholders and tooltips of its elements. */
const SAID = `[document.title, document.body.innerText,
  ...[...document.querySelectorAll('[aria-label], [placeholder], [title]')].map((e) => ['aria-label', 'placeholder', 'title'].map((a) => e.getAttribute(a) ?? '').join(' | '))].join('\\n')`;

/** The catalogue's English messages a page in Spanish still says, each with some context for the failure. */
export async function englishLeft(page: Page): Promise<string[]> {
  const text = await page.evaluate(SAID) as string;
  return ENGLISH_ONLY.filter((s) => whole(s).test(text))
    .map((s) => `${s} in: …${text.slice(Math.max(0, text.indexOf(s) - 60), text.indexOf(s) + s.length + 20)}…`);
}
