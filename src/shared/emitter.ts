import { EventEmitter } from 'node:events';

/** An event map: event name -> argument tuple. */
export type Events = Record<string, unknown[]>;

/**
 * EventEmitter with typed events, after mediasoup's EnhancedEventEmitter.
 * `safeEmit` never lets a listener's exception escape into the emitter's caller (a room closing
 * must not fail half-way because one listener threw); the exception is reported as a process warning.
 */
export class TypedEmitter<E extends Events> {
  readonly #ee = new EventEmitter();

  constructor() {
    this.#ee.setMaxListeners(Infinity);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    try {
      return this.#ee.emit(event, ...args);
    } catch (err) {
      process.emitWarning(`a "${event}" listener threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 'ListenerError');
      return true;
    }
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#ee.listenerCount(event);
  }

  removeAllListeners(): void {
    this.#ee.removeAllListeners();
  }
}
