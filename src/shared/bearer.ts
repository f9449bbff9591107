/**
 * The credential of an `Authorization: Bearer <credential>` header, or undefined. The scheme is
 * matched case-insensitively (RFC 9110 section 11.1: `bearer`, `BEARER` are the same scheme).
 */
export function bearerCredential(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return header.slice(7).trim();
}
