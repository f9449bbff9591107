/**
 * Runs tasks one at a time in the order they were queued: the next starts only when the previous
 * settled (resolved or rejected). Used for a signalling session's requests and a room's steps, so
 * that a check made inside a task cannot be invalidated by another task of the same owner.
 *
 * A task must never wait on another task of the same queue (it would wait for itself).
 */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** Tasks queued or running. */
  get size(): number { return this.#pending; }

  run<T>(task: () => Promise<T> | T): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(task);
    this.#tail = result.then(() => undefined, () => undefined).finally(() => { this.#pending--; });
    return result;
  }
}
