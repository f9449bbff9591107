/**
 * A token bucket: holds up to `burst` tokens, refills at `ratePerSecond`, starts full. Each
 * `take()` spends one token if there is one. Time comes from `clock` (milliseconds; injectable so
 * that tests drive it), read only when the bucket is used: an idle bucket costs nothing.
 *
 * Used for the per-connection request budget, the audit-writing budget, the refusal tolerance of
 * a signalling connection, and the /safety event budget (docs/configuration.md, "Limits").
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #clock: () => number;
  #tokens: number;
  #at: number;

  constructor(ratePerSecond: number, burst: number, clock: () => number = () => performance.now()) {
    if (!(ratePerSecond >= 0) || !(burst >= 1)) throw new RangeError(`token bucket needs rate >= 0 and burst >= 1, got ${ratePerSecond}/${burst}`);
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock();
  }

  /** Spends one token and returns true, or returns false (nothing spent) when none is left. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole tokens available now. */
  get available(): number {
    this.#refill();
    return Math.floor(this.#tokens);
  }

  /** True when the bucket has refilled completely: it is then the same as a new one (and can be dropped). */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.burst;
  }

  #refill(): void {
    const now = this.#clock();
    const elapsed = now - this.#at;
    this.#at = now;
    if (elapsed > 0) this.#tokens = Math.min(this.burst, this.#tokens + (elapsed / 1000) * this.ratePerSecond);
  }
}
