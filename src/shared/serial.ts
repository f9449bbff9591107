import { attempt, within } from './deadline.ts';

/** What a queued task can ask about itself while it runs. */
export interface StepState {
  /** True once the task ran past its deadline: its caller was answered, whatever it makes now must be undone. */
  readonly abandoned: boolean;
}

export interface RunOptions {
  /** After this long the task's promise rejects with `timeoutError()` and the queue moves on. */
  readonly timeoutMs: number;
  readonly timeoutError: () => Error;
}

/**
 * Runs tasks one at a time in the order they were queued: the next starts only when the previous
 * settled (resolved or rejected). Used for a signalling session's requests and a room's steps, so
 * that a check made inside a task cannot be invalidated by another task of the same owner.
 *
 * With a deadline, a task that has not settled in time is abandoned: its caller gets the timeout
 * error, the queue moves on, and the task (still running) sees `state.abandoned` and must close
 * whatever it creates from then on. A task must never wait on another task of the same queue.
 */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** Tasks queued or running. */
  get size(): number { return this.#pending; }

  run<T>(task: (state: StepState) => Promise<T> | T, opts?: RunOptions): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(() => (opts ? withDeadline(task, opts) : task({ abandoned: false })));
    this.#tail = result.then(() => undefined, () => undefined).finally(() => { this.#pending--; });
    return result;
  }
}

async function withDeadline<T>(task: (state: StepState) => Promise<T> | T, opts: RunOptions): Promise<T> {
  const state = { abandoned: false };
  const r = await within(attempt(async () => task(state)), opts.timeoutMs);
  if (!r.settled) {
    state.abandoned = true;
    throw opts.timeoutError();
  }
  if (!r.ok) throw r.error;
  return r.value;
}
