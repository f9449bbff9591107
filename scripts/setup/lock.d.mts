// Types of lock.mjs for the TypeScript tests and helpers (the set-up itself is plain JavaScript).

/** The start time of a process in clock ticks since boot (Linux /proc), or undefined elsewhere or when it is gone. */
export function processStart(pid: number): string | undefined;

/** Why the lock's holder no longer holds it, or undefined while it may (another host: assumed alive). */
export function staleReason(owner: { pid?: unknown; host?: unknown; start?: string } | null | undefined): string | undefined;

/**
 * Runs fn while holding the lock `<dir>/<name>.lock`; waits (saying so) while another process holds
 * it, takes over a stale one, and gives up after the bounded wait (`opts.timeoutMs`, default
 * $SFU_SETUP_LOCK_TIMEOUT seconds, else one hour) with an error naming the holder.
 */
export function withLock<T>(dir: string, name: string, what: string, fn: () => T | Promise<T>, opts?: { timeoutMs?: number }): Promise<T>;
