import { arrange, type Feed } from './stage-layout.ts';
import type { TileParts } from './tile.ts';
import { t } from './i18n/language.ts';
import { setAttr, setText } from './i18n/localize.ts';

interface Entry {
  readonly feed: Feed;
  readonly parts: TileParts;
  /** What the page shows about the tile besides the picture (a student's location): beside the stage while on it. */
  readonly info: HTMLElement | undefined;
}

/**
 * The in-call layout: one tile large on the stage (`#stage`), the others small in the filmstrip
 * (`#filmstrip`), chosen by stage-layout.ts from the pinned tile, the screen shares and the active
 * speaker. The stage tile's info (a student's location, for clinicians) moves to `#stage-info`, at
 * the top of the side column, so it stays in view next to the face without covering it. Each tile's Pin button pins it (or unpins it); the stage tile's Full screen button puts
 * it full screen (Fullscreen API). Tiles are moved between the two containers, never re-created.
 */
export class Stage {
  readonly #stage: HTMLElement;
  readonly #strip: HTMLElement;
  readonly #info: HTMLElement;
  /** In the order the tiles appeared. */
  readonly #entries = new Map<string, Entry>();
  #pinned: string | undefined;
  #speaker: string | undefined;
  #current: string | undefined;
  /** Remote camera tiles without a video consumer (stage-layout.ts `blank`). */
  readonly #blank = new Set<string>();

  constructor(stage: HTMLElement, strip: HTMLElement, info: HTMLElement) {
    this.#stage = stage;
    this.#strip = strip;
    this.#info = info;
    document.addEventListener('fullscreenchange', () => this.#layout());
  }

  /** The key of the tile on the stage now. */
  get onStage(): string | undefined { return this.#current; }
  get pinned(): string | undefined { return this.#pinned; }

  add(feed: Feed, parts: TileParts, info?: HTMLElement): void {
    if (this.#entries.has(feed.key)) return;
    this.#entries.set(feed.key, { feed, parts, info });
    parts.pin?.addEventListener('click', () => this.pin(this.#pinned === feed.key ? undefined : feed.key));
    parts.fullscreen.addEventListener('click', () => void this.#toggleFullscreen(parts.root));
    this.#layout();
  }

  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (document.fullscreenElement === entry.parts.root) void document.exitFullscreen().catch(() => undefined);
    this.#entries.delete(key);
    this.#blank.delete(key);
    entry.parts.root.remove();
    entry.info?.remove();
    if (this.#pinned === key) this.#pinned = undefined;
    this.#layout();
  }

  /** Pins a tile to the stage (undefined: unpin, the stage follows screen shares and the speaker again). */
  pin(key: string | undefined): void {
    this.#pinned = key !== undefined && this.#entries.has(key) ? key : undefined;
    this.#layout();
  }

  /** Whether a remote camera tile has a picture for us (a video consumer) now. */
  setPicture(key: string, has: boolean): void {
    if (has === !this.#blank.has(key)) return;
    if (has) this.#blank.delete(key);
    else this.#blank.add(key);
    this.#layout();
  }

  setSpeaker(participantId: string | undefined): void {
    this.#speaker = participantId;
    this.#layout();
  }

  #layout(): void {
    // Moving the tile shown full screen would end full screen: the layout waits until it ends.
    // Its info (a student's location) goes inside it meanwhile, so full screen still shows it.
    const full = [...this.#entries.values()].find((e) => e.parts.root === document.fullscreenElement);
    if (full) {
      if (full.info && full.info.parentElement !== full.parts.root) full.parts.root.append(full.info);
      this.#labels();
      return;
    }
    const feeds = [...this.#entries.values()].map((e) => e.feed);
    const { stage, filmstrip } = arrange(feeds, { pinned: this.#pinned, speaker: this.#speaker, previous: this.#current, blank: this.#blank });
    this.#current = stage;
    const onStage = stage ? this.#entries.get(stage)?.parts.root : undefined;
    if (onStage && onStage.parentElement !== this.#stage) this.#stage.append(onStage);
    filmstrip.forEach((key, i) => {
      const root = this.#entries.get(key)!.parts.root;
      if (this.#strip.children[i] !== root) this.#strip.insertBefore(root, this.#strip.children[i] ?? null);
    });
    for (const [key, { parts, info }] of this.#entries) {
      const home = key === stage ? this.#info : parts.root;
      if (info && info.parentElement !== home) home.append(info);
    }
    this.#stage.hidden = !onStage;
    this.#labels();
  }

  /** Pin buttons say what they do; the full-screen button of the tile shown full screen says how to leave it. */
  #labels(): void {
    for (const [key, { parts }] of this.#entries) {
      parts.root.classList.toggle('on-stage', key === this.#current);
      parts.root.classList.toggle('pinned', key === this.#pinned);
      // The tile's name is read when the words are written (after a language change too: the tile's own label comes first).
      const name = () => parts.root.getAttribute('aria-label') ?? '';
      if (parts.pin) {
        const pinned = key === this.#pinned;
        setText(parts.pin, () => t(pinned ? 'tile.unpin' : 'tile.pin'));
        setAttr(parts.pin, 'aria-label', () => t(pinned ? 'tile.unpinLabel' : 'tile.pinLabel', { name: name() }));
      }
      const full = document.fullscreenElement === parts.root;
      setText(parts.fullscreen, () => t(full ? 'tile.exitFullscreen' : 'tile.fullscreen'));
      setAttr(parts.fullscreen, 'aria-label', () => full ? t('tile.exitFullscreen') : t('tile.fullscreenLabel', { name: name() }));
    }
  }

  async #toggleFullscreen(root: HTMLElement): Promise<void> {
    try {
      if (document.fullscreenElement === root) await document.exitFullscreen();
      else await root.requestFullscreen();
    } catch (err) {
      console.warn('full screen refused', err);
    }
  }
}
