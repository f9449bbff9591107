import type { Grant } from '../auth/grant.ts';
import type { RevocationList } from '../auth/revocations.ts';
import { SfuError } from '../shared/errors.ts';

/** What a join asks for, as the admission steps see it. */
export interface AdmissionRequest {
  readonly grant: Grant;
  /** The join request's validated data (issue #3 reads consent and location from it). */
  readonly data: Readonly<Record<string, unknown>>;
  readonly remoteAddress: string;
}

/**
 * One condition of admission. Steps run in order before a participant is admitted;
 * a step refuses by throwing a coded SfuError. Consent and location recording plug in here.
 */
export type AdmissionStep = (req: AdmissionRequest) => Promise<void>;

export function notRevoked(revocations: RevocationList): AdmissionStep {
  return async ({ grant }) => {
    const r = revocations.find(grant.room, grant.identity, grant.tokenId);
    if (r) throw new SfuError('IDENTITY_REVOKED', `access to this room is revoked until ${new Date(r.until).toISOString()}`);
  };
}
