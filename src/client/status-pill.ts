import { statusText } from './messages.ts';
import { setText } from './i18n/localize.ts';

/** Writes the status pill: words (in the page's language, after a change too), `data-state` (the state as is), `data-code` (the error code, if any). */
export function showStatus(status: HTMLElement, state: string): void {
  setText(status, () => statusText(state));
  status.dataset.state = state;
  const code = /^(?:error|link-error):(.*)$/.exec(state)?.[1];
  if (code) status.dataset.code = code;
  else delete status.dataset.code;
}
