import { describe, expect, it } from 'vitest';
import { parseRfc3339 } from '../../src/safety/rfc3339.ts';

describe('parseRfc3339', () => {
  it('reads date-times with Z or an offset and optional fractional seconds', () => {
    expect(parseRfc3339('2026-12-01T10:00:00Z')).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseRfc3339('2026-12-01t10:00:00z')).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseRfc3339('2026-12-01T10:00:00+05:30')).toBe(Date.UTC(2026, 11, 1, 4, 30));
    expect(parseRfc3339('2026-12-01T10:00:00-08:00')).toBe(Date.UTC(2026, 11, 1, 18));
    expect(parseRfc3339('2026-12-01T10:00:00.5Z')).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 500));
    expect(parseRfc3339('2026-12-01T10:00:00.123456789Z')).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 123));
    expect(parseRfc3339('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseRfc3339('2016-12-31T23:59:60Z')).toBe(Date.UTC(2016, 11, 31, 23, 59, 59, 999));
    expect(parseRfc3339('0050-01-01T00:00:00Z')).toBe(new Date('0050-01-01T00:00:00Z').getTime());
  });

  it('refuses everything else', () => {
    for (const bad of [
      'March 7, 2020 10:00', '2026-12-01', '2026-12-01T10:00Z', '2026-12-01T10:00:00', '2026-12-01 10:00:00Z',
      '2026-12-01T10:00:00+0530', '2026-12-01T10:00:00.Z', '2026-02-30T10:00:00Z', '2025-02-29T10:00:00Z', '2026-13-01T10:00:00Z',
      '2026-00-10T10:00:00Z', '2026-12-01T24:00:00Z', '2026-12-01T10:60:00Z', '2026-12-01T10:00:00+24:00', '1796119200000',
      ' 2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z ', '+002026-12-01T10:00:00Z', '',
    ]) expect(parseRfc3339(bad), bad).toBeUndefined();
  });
});
