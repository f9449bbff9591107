/**
 * The /rtc URL on the node named by a ROOM_ELSEWHERE (`https://node-b.example`), with the current
 * URL's query (token, room): `wss://node-b.example/rtc?token=...`. Undefined unless it is an
 * http(s) URL.
 */
export function redirectUrl(current: string, target: unknown): string | undefined {
  if (typeof target !== 'string') return undefined;
  let base: URL;
  try {
    base = new URL(target);
  } catch {
    return undefined;
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return undefined;
  const next = new URL('/rtc', base);
  next.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  next.search = new URL(current).search;
  return next.toString();
}

/** The http(s) origin of a /rtc URL (`wss://node-b.example/rtc?...` -> `https://node-b.example`). */
export function nodeOriginOf(rtcUrl: string): string {
  const u = new URL(rtcUrl);
  return `${u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol}//${u.host}`;
}
