import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/shared/token-bucket.ts';

/** A clock the test moves by hand (milliseconds). */
function fakeClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

const takeAll = (b: TokenBucket, n: number) => Array.from({ length: n }, () => b.take());

describe('TokenBucket', () => {
  it('starts full: a burst of `burst` is allowed at once, the next is refused', () => {
    const clock = fakeClock();
    const b = new TokenBucket(50, 100, clock.now);
    expect(takeAll(b, 100).every(Boolean)).toBe(true);
    expect(b.take()).toBe(false);
    expect(b.available).toBe(0);
  });

  it('refills at the rate, in fractions, never above the burst', () => {
    const clock = fakeClock();
    const b = new TokenBucket(10, 5, clock.now);
    takeAll(b, 5);
    clock.advance(50); // half a token
    expect(b.take()).toBe(false);
    clock.advance(50); // one token (the refused take spent nothing)
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    clock.advance(60_000);
    expect(b.available).toBe(5);
    expect(b.full).toBe(true);
    expect(takeAll(b, 6)).toEqual([true, true, true, true, true, false]);
  });

  it('sustains exactly the rate under a constant flood', () => {
    const clock = fakeClock();
    const b = new TokenBucket(50, 100, clock.now);
    let granted = 0;
    // 10 s of a request every millisecond (1,000/s against a budget of 50/s).
    for (let ms = 0; ms < 10_000; ms++) {
      if (b.take()) granted++;
      clock.advance(1);
    }
    expect(granted).toBeGreaterThanOrEqual(100 + 499);
    expect(granted).toBeLessThanOrEqual(100 + 500);
  });

  it('a slow steady client under the rate is never refused', () => {
    const clock = fakeClock();
    const b = new TokenBucket(1, 5, clock.now);
    for (let i = 0; i < 100; i++) {
      expect(b.take()).toBe(true);
      clock.advance(1000);
    }
  });

  it('rate 0 is a fixed allowance', () => {
    const clock = fakeClock();
    const b = new TokenBucket(0, 3, clock.now);
    expect(takeAll(b, 4)).toEqual([true, true, true, false]);
    clock.advance(3_600_000);
    expect(b.take()).toBe(false);
  });

  it('a clock that steps back does not mint tokens', () => {
    const clock = fakeClock();
    const b = new TokenBucket(10, 2, clock.now);
    takeAll(b, 2);
    clock.advance(-5_000);
    expect(b.take()).toBe(false);
    clock.advance(100);
    expect(b.take()).toBe(true);
  });

  it('refuses nonsense parameters', () => {
    expect(() => new TokenBucket(-1, 5)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN, 5)).toThrow(RangeError);
  });
});
