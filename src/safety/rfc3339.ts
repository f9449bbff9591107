/**
 * RFC 3339 date-times (section 5.6): `2026-12-01T10:00:00Z`, `2026-12-01T10:00:00.250+05:30`.
 * A full date and time with seconds and an explicit offset (`Z` or `±hh:mm`), optional fractional
 * seconds; `T` and `Z` may be lower case. Nothing else: no date alone, no missing seconds or offset,
 * no space separator, no out-of-range field (Feb 30, hour 24), no locale formats.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch, or undefined when `text` is not an RFC 3339 date-time. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  const [offHours, offMinutes] = [Number(m[10] ?? 0), Number(m[11] ?? 0)];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  if (offHours > 23 || offMinutes > 59) return undefined;
  // A leap second (:60) is the last instant of its minute.
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0-99 to 1900-1999
  at.setUTCHours(hour, minute, Math.min(second, 59), second === 60 ? 999 : ms);
  if (at.getUTCFullYear() !== year || at.getUTCMonth() !== month - 1 || at.getUTCDate() !== day) return undefined;
  const local = at.getTime();
  const offset = (m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes)) * 60_000;
  return local - offset;
}
