/** How a promise stood when its deadline came: settled (fulfilled or rejected), or still pending. */
export type Within<T> =
  | { readonly settled: true; readonly ok: true; readonly value: T }
  | { readonly settled: true; readonly ok: false; readonly error: unknown }
  | { readonly settled: false };

/**
 * Waits for `promise` at most `ms` milliseconds and says how it stood then; never rejects. The
 * promise itself goes on (a store write that answers late still lands): the caller decides what a
 * late answer means.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<Within<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms);
    timer.unref?.();
    promise.then(
      (value) => { clearTimeout(timer); resolve({ settled: true, ok: true, value }); },
      (error: unknown) => { clearTimeout(timer); resolve({ settled: true, ok: false, error }); },
    );
  });
}

/** Calls `fn` and turns a synchronous throw into a rejected promise (store adapters may throw before they return one). */
export function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
