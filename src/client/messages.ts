import type { Quality } from './quality.ts';
import { t, tDynamic } from './i18n/language.ts';

/**
 * The words for codes and states (the catalogues in i18n/ hold the words themselves): error codes,
 * refused links, the status pill, roles. Every function answers in the page's current language.
 * No DOM (unit tests import it): status-pill.ts writes the pill.
 */

/** What a person sees for a role: tiles are labelled by role, never by name. */
export function roleLabel(role: string | undefined): string {
  return tDynamic(`role.${role ?? ''}`, {}, t('role.participant'));
}

/** Form labels for the fields the server names in INVALID_CONSENT / INVALID_LOCATION messages. */
function fieldLabel(field: string): string | undefined {
  const label = tDynamic(`field.${field}`, {}, '');
  return label || undefined;
}

/** Plain-language text for the error codes a person can meet (server codes: docs/errors.md). */
export function errorText(code: string, detail?: string): string {
  if (code === 'ROOM_CLOSED' && detail) {
    const closed = tDynamic(`roomClosed.${detail}`, {}, '');
    if (closed) return closed;
  }
  const known = tDynamic(`error.${code}`, {}, '');
  if ((code === 'INVALID_CONSENT' || code === 'INVALID_LOCATION') && detail) {
    // The server names the field first ("location.region: must match ..."): point at the form's label.
    const m = /^([\w.]+): (.*)$/.exec(detail);
    const label = m ? fieldLabel(m[1]!) : undefined;
    return t('error.checkField', { text: known, field: label ?? m?.[1] ?? t('error.theForm'), detail: m?.[2] ?? detail });
  }
  return known || t('error.unknown', { code });
}

/** What a person is told when media cannot connect (media-health.ts codes), and what to try. */
export function mediaProblemText(code: string, endpoints: readonly string[]): { say: string; tips: string[]; code: string } {
  const say = tDynamic(`media.${code}`, {}, '');
  const tips = say ? [tDynamic(`media.${code}.tip1`, {}, ''), tDynamic(`media.${code}.tip2`, {}, '')].filter(Boolean) : [t('media.otherTip')];
  const it = endpoints.length > 0 ? t('media.itWith', { endpoints: endpoints.join(', ') }) : t('media.it');
  return { say: say || t('media.other'), tips: [...tips, it], code: t('media.code', { code }) };
}

/** A tile's connection quality in words (shown, not colour alone). */
export function qualityLabel(q: Quality): string {
  return t(`quality.${q}`);
}

/**
 * What the page says when the link check (link-check.ts) refuses the link, before any form: in
 * plain words, with what to do. `page` names the link the person holds ("desk link" on the desk page).
 */
export function linkProblemText(code: string, page: 'session' | 'desk' = 'session'): string {
  const ask = page === 'desk' ? t('link.askDesk') : t('link.ask');
  const askLower = page === 'desk' ? t('link.askDeskLower') : t('link.askLower');
  return tDynamic(`link.${code}`, { ask, askLower }, t('link.unknown', { code, askLower }));
}

/**
 * The status pill in words (its `data-state` keeps the state and `data-code` the error code, for
 * tests and operators): never `idle` or `error:TOKEN_INVALID`.
 */
export function statusText(state: string): string {
  if (state.startsWith('error:')) return t('status.error');
  if (state.startsWith('link-error:')) return t('status.link-error');
  return tDynamic(`status.${state}`, {}, state);
}
