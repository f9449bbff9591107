import type { Grant } from '../domain/roles.ts';
import { assertNotRevoked, type RevocationList } from '../auth/revocations.ts';
import type { ParticipantFacts } from './participant.ts';

/** What a join asks for, as the admission steps see it. */
export interface AdmissionRequest {
  /** The id the participant will have once admitted (records are keyed by it). */
  readonly participantId: string;
  readonly grant: Grant;
  /** The join request's validated data (consent and location are read from it). */
  readonly data: Readonly<Record<string, unknown>>;
  readonly remoteAddress: string;
  /** What the steps learned that the room needs (consent scopes, location summary). */
  readonly facts: ParticipantFacts;
  /** Identities of the clinicians admitted to the room right now (verbal consent names one of them). */
  readonly clinicians: () => ReadonlySet<string>;
}

/**
 * One condition of admission. `check` runs before the room is touched and refuses by throwing a
 * coded SfuError; `commit` runs once every check (and the room's own) passed, right before the
 * participant is admitted: that is where records are made durable. A commit that fails refuses.
 */
export interface AdmissionStep {
  check(req: AdmissionRequest): Promise<void>;
  commit?(req: AdmissionRequest): Promise<void>;
  /** Told when the join was refused (by any step or by the room), e.g. to audit the refusal. */
  refused?(req: AdmissionRequest, code: string): Promise<void>;
}

export function notRevoked(revocations: RevocationList): AdmissionStep {
  return {
    async check({ grant }) {
      assertNotRevoked(revocations, grant);
    },
  };
}
