import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ROLES, SOURCES, type Grant, type Source } from '../domain/roles.ts';
import { E2EE_MODES } from '../domain/e2ee.ts';

/** A room id or an identity (`sub`) as tokens carry them; the admin API takes the same in paths and bodies. */
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' });

/** Whether a room id or identity is one a token may carry (1-128 of A-Z a-z 0-9 . _ : @ -): what `npm run token` checks before minting. */
export function isTokenId(s: string): boolean {
  return Value.Check(Id, s);
}

/** The room-scoped claims a token must carry (besides exp, checked by the verifier). */
export const ClaimsSchema = Type.Object({
  room: Id,
  sub: Id,
  role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  jti: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  permissions: Type.Optional(Type.Object({
    publish: Type.Optional(Type.Array(Type.Union(SOURCES.map((s) => Type.Literal(s))), { maxItems: 3 })),
    subscribe: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false })),
  /** The room's E2EE mode as the operator minted it (docs/protocol.md, "End-to-end encryption"); absent: `e2ee.mode`. */
  e2ee: Type.Optional(Type.Union(E2EE_MODES.map((m) => Type.Literal(m)))),
});
export type Claims = Static<typeof ClaimsSchema>;

/** Observers subscribe only, whatever their token says; others default to publishing every source. */
export function grantFromClaims(c: Claims, exp: number): Grant {
  const publish = c.role === 'observer' ? new Set<Source>() : new Set<Source>(c.permissions?.publish ?? SOURCES);
  return {
    room: c.room,
    identity: c.sub,
    role: c.role,
    publish,
    subscribe: c.permissions?.subscribe ?? true,
    tokenId: c.jti,
    expiresAt: exp * 1000,
    ...(c.e2ee ? { e2ee: c.e2ee } : {}),
  };
}

/** Claims of an operator's safety-desk token (the panic channel's on-call staff). */
export const DeskClaimsSchema = Type.Object({
  sub: Id,
  role: Type.Literal('desk'),
  rooms: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 1000 }),
});

