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
