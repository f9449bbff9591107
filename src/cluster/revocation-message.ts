import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Revocation } from '../auth/revocations.ts';

/** The largest revocation message read off Redis; a longer one is dropped unparsed. */
export const MAX_REVOCATION_MESSAGE_BYTES = 2048;

/** The bounds of the admin API's kick (src/http/admin.ts), so that every revocation made there travels. */
const Id = Type.String({ minLength: 1, maxLength: 128 });

/** One revocation made on node `node`, as published on the revocation channel (version 1). */
const RevocationMessage = Type.Object({
  v: Type.Literal(1),
  node: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
  room: Id,
  identity: Type.Optional(Id),
  tokenId: Type.Optional(Id),
  /** Milliseconds since the epoch, as in Revocation. */
  until: Type.Integer({ minimum: 0, maximum: 8.64e15 }),
  reason: Type.String({ maxLength: 200, pattern: '^[^\\u0000-\\u001f]*$' }),
}, { additionalProperties: false });

type RevocationMessage = Static<typeof RevocationMessage>;

const check = TypeCompiler.Compile(RevocationMessage);

export function encodeRevocationMessage(r: Revocation, node: string): string {
  const m: RevocationMessage = {
    v: 1, node, room: r.room, until: r.until, reason: r.reason,
    ...(r.identity !== undefined ? { identity: r.identity } : {}),
    ...(r.tokenId !== undefined ? { tokenId: r.tokenId } : {}),
  };
  return JSON.stringify(m);
}

/** Why a received message was dropped (counted as `malformed`; never a crash). */
export type RevocationMessageProblem = 'too-large' | 'not-json' | 'invalid' | 'names-nobody';

export type DecodedRevocation =
  | { readonly ok: true; readonly node: string; readonly revocation: Revocation }
  | { readonly ok: false; readonly problem: RevocationMessageProblem };

/**
 * Reads a message off the revocation channel strictly: at most MAX_REVOCATION_MESSAGE_BYTES, JSON,
 * exactly the fields of version 1 within their bounds, and naming an identity or a token id.
 */
export function decodeRevocationMessage(raw: string): DecodedRevocation {
  if (raw.length > MAX_REVOCATION_MESSAGE_BYTES || Buffer.byteLength(raw) > MAX_REVOCATION_MESSAGE_BYTES) return { ok: false, problem: 'too-large' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, problem: 'not-json' };
  }
  if (!check.Check(parsed)) return { ok: false, problem: 'invalid' };
  const m = parsed;
  if (m.identity === undefined && m.tokenId === undefined) return { ok: false, problem: 'names-nobody' };
  return { ok: true, node: m.node, revocation: { room: m.room, identity: m.identity, tokenId: m.tokenId, until: m.until, reason: m.reason } };
}
