/**
 * The join timeline: performance marks named sfu:<step>, readable in the browser's performance
 * tools and, as milliseconds since the last Join click, through `timings()` (window.sfuClient).
 */
export function mark(step: string): void {
  performance.mark(`sfu:${step}`);
}

/** Milliseconds from the last `mark('join')` to the first mark of each later step. */
export function timings(): Record<string, number> {
  const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('sfu:'));
  const start = marks.findLast((m) => m.name === 'sfu:join')?.startTime;
  if (start === undefined) return {};
  const out: Record<string, number> = {};
  for (const m of marks) if (m.startTime >= start) out[m.name.slice(4)] ??= Math.round(m.startTime - start);
  return out;
}
