/**
 * Whether every string in a parsed JSON value (keys included) is well-formed Unicode. JSON lets a
 * client send lone UTF-16 surrogates ("\ud83d"); the mediasoup worker cannot parse a request that
 * carries one and never answers it, so such messages are refused before any handler sees them.
 * Iterative, bounded by the message size limit.
 */
export function wellFormedStrings(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return false;
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (!k.isWellFormed()) return false;
        stack.push(item);
      }
    }
  }
  return true;
}

/** How deep a message may nest (objects and arrays, the envelope being level 1): documented fields reach level 7 (`data.rtpParameters.codecs[0].rtcpFeedback[0]`). */
export const MAX_NESTING = 16;

/**
 * Whether a parsed JSON value nests arrays and objects at most `max` levels deep. Keys that
 * `rtpCapabilities` and `rtpParameters` may carry unread reach mediasoup, whose recursive copies
 * would otherwise overflow the stack on a deeply nested one. Iterative, bounded by the message size.
 */
export function nestingWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return false;
    for (const item of Array.isArray(v) ? v : Object.values(v)) stack.push([item, depth + 1]);
  }
  return true;
}
