/**
 * The safety code every page of an encrypted session shows (docs/security.md, "Verification"):
 * SHA-256 over all participants' public keys (ours included), sorted, so every page that holds the
 * same keys shows the same code, whatever the order they arrived in. 12 digits in three groups of
 * four ("4821 0937 5512"), read aloud by the clinician: a server that handed out keys of its own
 * would have to find a key set giving the same 12 digits (about 2^40 tries) during the join.
 * It changes whenever someone joins or leaves: the pages say so.
 */
import { fromBase64Url } from './e2ee-keys.ts';

export const SAFETY_CODE_DIGITS = 12;

export async function safetyCode(publicKeys: readonly string[]): Promise<string> {
  const sorted = [...new Set(publicKeys)].sort();
  const parts = sorted.map((k) => fromBase64Url(k));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    all[at++] = p.length;
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all as Uint8Array<ArrayBuffer>));
  // 48 bits of the digest reduced to 12 digits (the bias of the reduction is below 2^-8).
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + digest[i]!;
  const digits = String(n % 10 ** SAFETY_CODE_DIGITS).padStart(SAFETY_CODE_DIGITS, '0');
  return digits.match(/.{4}/g)!.join(' ');
}
