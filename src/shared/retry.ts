export interface RetryOptions {
  /** Tries in all (the first one included). */
  readonly attempts: number;
  /** Wait before the second try; doubled before each further one. */
  readonly baseDelayMs: number;
}

/**
 * Runs `task` until it resolves, at most `attempts` times, waiting `baseDelayMs`, then twice that,
 * and so on between tries (timers do not keep the process alive). Rejects with the last error.
 */
export async function retry<T>(task: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (attempt >= opts.attempts) throw err;
      await new Promise<void>((resolve) => setTimeout(resolve, opts.baseDelayMs * 2 ** (attempt - 1)).unref());
    }
  }
}
