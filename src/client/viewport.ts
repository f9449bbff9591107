/** What the server is told about the tile showing one video consumer (`setViewport`). */
export interface TileViewport {
  readonly width: number;
  readonly height: number;
  readonly visible: boolean;
}

interface Watched {
  /** Rendered size in device pixels (what the decoder's output is scaled to). */
  width: number;
  height: number;
  /** Some of it is inside the viewport. */
  intersecting: boolean;
  /** The consumer the element shows, and the tile's other video consumers (not shown). */
  shown: string | undefined;
  others: readonly string[];
}

/** A size change smaller than this fraction is not worth a message (no layer boundary is that close). */
const MIN_CHANGE = 0.1;

/**
 * Tells the server, per video consumer, how large its tile is drawn and whether anyone can see it:
 * a ResizeObserver for the size, an IntersectionObserver for scrolled-away or `display: none`
 * tiles, the page's visibility for a hidden tab. The server pauses hidden consumers and picks each
 * visible one's simulcast/SVC layer by height. Reports are debounced and sent only on a change
 * that matters (visibility, or a size change of 10 % or more).
 */
export class ViewportReporter {
  readonly #send: (consumerId: string, v: TileViewport) => Promise<unknown>;
  readonly #debounceMs: number;
  readonly #watched = new Map<Element, Watched>();
  readonly #sent = new Map<string, TileViewport>();
  readonly #resize: ResizeObserver;
  readonly #intersect: IntersectionObserver;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: (consumerId: string, v: TileViewport) => Promise<unknown>, debounceMs = 200) {
    this.#send = send;
    this.#debounceMs = debounceMs;
    this.#resize = new ResizeObserver((entries) => {
      const dpr = window.devicePixelRatio || 1;
      for (const e of entries) {
        const w = this.#watched.get(e.target);
        if (!w) continue;
        w.width = Math.round(e.contentRect.width * dpr);
        w.height = Math.round(e.contentRect.height * dpr);
      }
      this.#schedule();
    });
    this.#intersect = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const w = this.#watched.get(e.target);
        if (w) w.intersecting = e.isIntersecting;
      }
      this.#schedule();
    });
    document.addEventListener('visibilitychange', () => this.#schedule());
  }

  /** Starts watching a tile's video element (its observers report its first size at once). */
  observe(element: Element): void {
    if (this.#watched.has(element)) return;
    this.#watched.set(element, { width: 0, height: 0, intersecting: false, shown: undefined, others: [] });
    this.#resize.observe(element);
    this.#intersect.observe(element);
  }

  /** Which consumer the element shows now; the tile's other video consumers count as hidden. */
  assign(element: Element, shown: string | undefined, others: readonly string[]): void {
    const w = this.#watched.get(element);
    if (!w) return;
    w.shown = shown;
    w.others = others;
    this.#schedule();
  }

  unobserve(element: Element): void {
    const w = this.#watched.get(element);
    if (!w) return;
    this.#watched.delete(element);
    this.#resize.unobserve(element);
    this.#intersect.unobserve(element);
    for (const id of [w.shown, ...w.others]) if (id) this.#sent.delete(id);
  }

  /** The consumer is gone: forget what was said about it. */
  forget(consumerId: string): void {
    this.#sent.delete(consumerId);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), this.#debounceMs);
  }

  #flush(): void {
    const pageVisible = document.visibilityState !== 'hidden';
    for (const w of this.#watched.values()) {
      const visible = pageVisible && w.intersecting && w.width > 0 && w.height > 0;
      if (w.shown) this.#report(w.shown, { width: w.width, height: w.height, visible });
      for (const id of w.others) this.#report(id, { width: 0, height: 0, visible: false });
    }
  }

  #report(consumerId: string, v: TileViewport): void {
    const last = this.#sent.get(consumerId);
    if (last && last.visible === v.visible && (!v.visible || !changed(last, v))) return;
    this.#sent.set(consumerId, v);
    // A consumer closed meanwhile answers with an error: nothing to do about it.
    this.#send(consumerId, v).catch(() => this.#sent.delete(consumerId));
  }
}

function changed(a: TileViewport, b: TileViewport): boolean {
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1, x, y);
  return rel(a.width, b.width) >= MIN_CHANGE || rel(a.height, b.height) >= MIN_CHANGE;
}
