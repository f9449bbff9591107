import { Type, type Static } from '@sinclair/typebox';

export const ROLES = ['clinician', 'student', 'guardian', 'observer', 'interpreter'] as const;
export type Role = (typeof ROLES)[number];

export const SOURCES = ['mic', 'camera', 'screen'] as const;
export type Source = (typeof SOURCES)[number];

/** Which media kind each source carries. */
export const SOURCE_KIND: Record<Source, 'audio' | 'video'> = { mic: 'audio', camera: 'video', screen: 'video' };

const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' });

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
});
export type Claims = Static<typeof ClaimsSchema>;

/** What a verified token allows: one identity, one role, in one room. */
export interface Grant {
  readonly room: string;
  readonly identity: string;
  readonly role: Role;
  readonly publish: ReadonlySet<Source>;
  readonly subscribe: boolean;
  readonly tokenId: string | undefined;
  readonly expiresAt: number;
}

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
  };
}

/** Claims of an operator's safety-desk token (the panic channel's on-call staff). */
export const DeskClaimsSchema = Type.Object({
  sub: Id,
  role: Type.Literal('desk'),
  rooms: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 1000 }),
});

/** A verified desk token: which rooms' incidents this person may see and handle. */
export interface DeskGrant {
  readonly identity: string;
  readonly rooms: ReadonlySet<string> | '*';
  readonly expiresAt: number;
}

export function deskCovers(desk: DeskGrant, room: string): boolean {
  return desk.rooms === '*' || desk.rooms.has(room);
}
