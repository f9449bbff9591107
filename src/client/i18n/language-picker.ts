/**
 * The language selector every page shows (`<select id="language">` in the header, options named
 * in their own language) and the remembered choice (localStorage `sfu.language.v1`, this origin
 * only). Without a choice the browser's languages decide (language.ts `pickLanguage`).
 */
import { currentLanguage, isLanguage, onLanguageChange, pickLanguage, setLanguage, type Audience } from './language.ts';

const KEY = 'sfu.language.v1';

function stored(): string | null {
  try {
    return window.localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

function remember(lang: string): void {
  try {
    window.localStorage.setItem(KEY, lang);
  } catch {
    // Storage refused (private mode): the choice holds for this page only.
  }
}

/** Sets the page's language from the remembered choice or the browser's, before anything is rendered. */
export function initialLanguage(audience: Audience = 'adult'): void {
  setLanguage(pickLanguage(stored(), navigator.languages ?? [navigator.language]), audience);
}

/** Wires the selector: a change re-renders the page in that language and is remembered. */
export function wireLanguagePicker(select: HTMLSelectElement | null): void {
  if (!select) return;
  select.value = currentLanguage();
  select.addEventListener('change', () => {
    if (!isLanguage(select.value)) return;
    remember(select.value);
    setLanguage(select.value);
  });
  onLanguageChange(() => { select.value = currentLanguage(); });
}
