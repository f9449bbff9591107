/** Plain-text output for people: aligned columns, nothing coloured, one record per line. */

/** Rows under a header, each column as wide as its widest cell; `empty` when there are no rows. */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[], empty: string): string {
  if (rows.length === 0) return empty;
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** `key: value` lines, keys aligned; undefined values left out. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n');
}

/** "1 entry" / "3 entries". */
export const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
