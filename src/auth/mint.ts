import jwt from 'jsonwebtoken';
import type { Role, Source } from '../domain/roles.ts';
import type { E2eeMode } from '../domain/e2ee.ts';

export interface MintOptions {
  room: string;
  identity: string;
  role: Role;
  ttlSeconds?: number;
  publish?: Source[];
  subscribe?: boolean;
  jti?: string;
  issuer?: string;
  audience?: string;
  /** The `e2ee` claim: the room's E2EE mode for this token (absent: the server's `e2ee.mode`). */
  e2ee?: E2eeMode;
}

/** Mints an HS256 room token (development tools, demo links and tests). */
export function mintToken(secret: string, o: MintOptions): string {
  const permissions = o.publish || o.subscribe !== undefined
    ? { ...(o.publish ? { publish: o.publish } : {}), ...(o.subscribe !== undefined ? { subscribe: o.subscribe } : {}) }
    : undefined;
  return jwt.sign(
    { room: o.room, role: o.role, ...(permissions ? { permissions } : {}), ...(o.e2ee ? { e2ee: o.e2ee } : {}) },
    secret,
    {
      algorithm: 'HS256',
      subject: o.identity,
      expiresIn: o.ttlSeconds ?? 3600,
      ...(o.jti ? { jwtid: o.jti } : {}),
      ...(o.issuer ? { issuer: o.issuer } : {}),
      ...(o.audience ? { audience: o.audience } : {}),
    },
  );
}

/** Mints an HS256 safety-desk token for the panic channel (rooms: ids, or ['*'] for all). */
export function mintDeskToken(secret: string, o: { identity: string; rooms: string[]; ttlSeconds?: number; issuer?: string; audience?: string }): string {
  return jwt.sign({ role: 'desk', rooms: o.rooms }, secret, {
    algorithm: 'HS256', subject: o.identity, expiresIn: o.ttlSeconds ?? 3600,
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.audience ? { audience: o.audience } : {}),
  });
}
