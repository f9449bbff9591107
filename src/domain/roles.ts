import type { E2eeMode } from './e2ee.ts';

/**
 * Roles, sources and grants: what a verified token allows, as every layer sees it (the claims
 * schemas and their verification live in src/auth).
 */
export const ROLES = ['clinician', 'student', 'guardian', 'observer', 'interpreter'] as const;
export type Role = (typeof ROLES)[number];

export const SOURCES = ['mic', 'camera', 'screen'] as const;
export type Source = (typeof SOURCES)[number];

/** Which media kind each source carries. */
export const SOURCE_KIND: Record<Source, 'audio' | 'video'> = { mic: 'audio', camera: 'video', screen: 'video' };

/** What a verified token allows: one identity, one role, in one room. */
export interface Grant {
  readonly room: string;
  readonly identity: string;
  readonly role: Role;
  readonly publish: ReadonlySet<Source>;
  readonly subscribe: boolean;
  readonly tokenId: string | undefined;
  readonly expiresAt: number;
  /** The token's `e2ee` claim: the E2EE mode the operator minted it for (absent: the configured `e2ee.mode`). */
  readonly e2ee?: E2eeMode | undefined;
}

/** A verified desk token: which rooms' incidents this person may see and handle. */
export interface DeskGrant {
  readonly identity: string;
  readonly rooms: ReadonlySet<string> | '*';
  readonly expiresAt: number;
}

export function deskCovers(desk: DeskGrant, room: string): boolean {
  return desk.rooms === '*' || desk.rooms.has(room);
}
