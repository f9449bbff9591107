/** Resolves once `pred()` holds (checked every 10 ms); rejects naming `what` after `timeoutMs`. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A deliberate observation window, not a wait: lets `ms` pass during which something must NOT
 * happen (or during which a rate is measured). The caller asserts strictly on what it saw afterwards.
 * To wait for something that should happen, use `until` on the condition instead.
 */
export function observeFor(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Spaces out the actions of a load a test generates (a rate it sets, e.g. a raise every 4 ms or a
 * probe every 50 ms): not a wait for anything. To wait for something, use `until`.
 */
export function pace(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
