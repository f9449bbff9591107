/** An event map: event name -> argument tuple. */
export type Events = Record<string, unknown[]>;

type Listeners<E extends Events> = { [K in keyof E]?: Set<(...args: E[K]) => void> };

/**
 * A tiny typed event emitter for the browser (the server's one wraps node:events).
 * A listener that throws is reported on the console and never breaks the emitter's caller.
 */
export class Emitter<E extends Events> {
  #listeners: Listeners<E> = {};

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    const set = (this.#listeners[event] ??= new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const listener of [...(this.#listeners[event] ?? [])]) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`listener for ${String(event)} failed`, err);
      }
    }
  }

  removeAll(): void {
    this.#listeners = {};
  }
}
