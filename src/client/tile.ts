import { t } from './i18n/language.ts';
import { setAttr, setText } from './i18n/localize.ts';

/** One video tile's elements: the frame (video and overlays on its edges), the actions, and what goes below it. */
export interface TileParts {
  readonly root: HTMLElement;
  readonly frame: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly label: HTMLElement;
  /** "Muted · Camera off" and the like, on the frame's top edge. */
  readonly badge: HTMLElement;
  /** Pin / Unpin (absent on our own camera preview). */
  readonly pin: HTMLButtonElement | undefined;
  /** Full screen (shown on the stage tile only). */
  readonly fullscreen: HTMLButtonElement;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * A tile: `<figure class="tile">` with a 16:9 `.frame` holding the video, its label, a state
 * badge and the Pin / Full screen buttons; anything below the picture (a student's location) is
 * appended to the figure after the frame, so it never covers the face.
 */
export function makeTile(opts: { attrs: Record<string, string>; label: () => string; pinnable: boolean; mirrored?: boolean }): TileParts {
  const root = el('figure', { class: 'tile', ...opts.attrs });
  const frame = el('div', { class: 'frame' });
  const video = el('video', { autoplay: '', playsinline: '' });
  video.muted = true; // sound plays through a separate <audio> element
  if (opts.mirrored) video.classList.add('mirrored');
  const label = el('span', { class: 'label' });
  setText(label, opts.label);
  const badge = el('span', { class: 'badge', hidden: '' });
  const actions = el('div', { class: 'tile-actions' });
  const pin = opts.pinnable ? el('button', { type: 'button', class: 'pin' }) : undefined;
  const fullscreen = el('button', { type: 'button', class: 'fullscreen' });
  if (pin) {
    setText(pin, () => t('tile.pin'));
    setAttr(pin, 'aria-label', () => t('tile.pinLabel', { name: opts.label() }));
  }
  setText(fullscreen, () => t('tile.fullscreen'));
  setAttr(fullscreen, 'aria-label', () => t('tile.fullscreenLabel', { name: opts.label() }));
  actions.append(...(pin ? [pin] : []), fullscreen);
  frame.append(video, label, badge, actions);
  root.append(frame);
  setAttr(root, 'aria-label', opts.label);
  return { root, frame, video, label, badge, pin, fullscreen };
}
