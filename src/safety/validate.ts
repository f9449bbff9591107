import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Role } from '../domain/roles.ts';
import { SfuError, type ErrorCode } from '../shared/errors.ts';
import { parseRfc3339 } from './rfc3339.ts';
import { ConsentSchema, LocationSchema, type ConsentInput, type LocationInput } from '../domain/consent-location.ts';

/** The consent and location rules that come from configuration. */
export interface SafetyRules {
  readonly policyVersions: readonly string[];
  readonly guardianRequiredFor: readonly Role[];
  readonly selfConsentRooms: readonly string[];
  readonly emergencyContactRequiredFor: readonly Role[];
}

const consentCheck = TypeCompiler.Compile(ConsentSchema);
const locationCheck = TypeCompiler.Compile(LocationSchema);

/** Schema check that names the first failing field, e.g. `consent.grantedBy.relation`. */
function shape<S extends TSchema>(check: ReturnType<typeof TypeCompiler.Compile<S>>, value: unknown, root: string, code: ErrorCode): Static<S> {
  if (check.Check(value)) return value;
  const first = check.Errors(value).First();
  const field = [root, ...(first?.path.split('/').filter(Boolean) ?? [])].join('.');
  throw new SfuError(code, `${field}: ${first?.message ?? 'invalid'}`);
}

/** Who is joining, and which clinicians are admitted to the room right now (a verbal consent names one). */
export interface Attestation {
  readonly identity: string;
  readonly clinicians: ReadonlySet<string>;
}

/**
 * What a person in `role` must give at join in `room`, from the same rules the checks below apply
 * (the link check, docs/protocol.md "Checking a link", answers it so a page asks only for this).
 */
export interface JoinRequirements {
  /** The consent terms version a new join must name (the first accepted), and every accepted one. */
  readonly policyVersion: string;
  readonly policyVersions: readonly string[];
  /** Consent must come from a guardian or legal representative (`grantedBy.relation` other than `self`). */
  readonly guardianConsent: boolean;
  /** A location is required from every role on every new join. */
  readonly location: true;
  /** `location.emergencyContact` is required. */
  readonly emergencyContact: boolean;
}

function guardianConsentRequired(role: Role, room: string, rules: SafetyRules): boolean {
  return rules.guardianRequiredFor.includes(role) && !rules.selfConsentRooms.includes(room);
}

function emergencyContactRequired(role: Role, rules: SafetyRules): boolean {
  return rules.emergencyContactRequiredFor.includes(role);
}

export function joinRequirements(role: Role, room: string, rules: SafetyRules): JoinRequirements {
  return {
    policyVersion: rules.policyVersions[0]!,
    policyVersions: [...rules.policyVersions],
    guardianConsent: guardianConsentRequired(role, room, rules),
    location: true,
    emergencyContact: emergencyContactRequired(role, rules),
  };
}

export function validateConsent(value: unknown, role: Role, room: string, rules: SafetyRules, attestation: Attestation): ConsentInput {
  if (value === undefined || value === null) throw new SfuError('CONSENT_REQUIRED', 'join needs consent: {policyVersion, scopes, grantedBy, method}');
  const c = shape(consentCheck, value, 'consent', 'INVALID_CONSENT');
  if (!rules.policyVersions.includes(c.policyVersion)) {
    throw new SfuError('CONSENT_VERSION_OUTDATED', `consent policy ${c.policyVersion} is not current; current version is ${rules.policyVersions[0]}`);
  }
  if (!c.scopes.includes('telehealth')) throw new SfuError('INVALID_CONSENT', 'consent.scopes: must include telehealth');
  if (guardianConsentRequired(role, room, rules) && c.grantedBy.relation === 'self') {
    throw new SfuError('INVALID_CONSENT', `consent.grantedBy.relation: a ${role}'s consent must come from a guardian or legal representative in this room`);
  }
  if (c.method === 'verbal-attested') {
    if (!c.attestedBy) throw new SfuError('INVALID_CONSENT', 'consent.attestedBy: a verbal consent names the clinician identity who attests it');
    if (c.attestedBy === attestation.identity) {
      throw new SfuError('INVALID_CONSENT', 'consent.attestedBy: names the person joining; a verbal consent is attested by a clinician in the room');
    }
    if (!attestation.clinicians.has(c.attestedBy)) {
      throw new SfuError('INVALID_CONSENT', 'consent.attestedBy: is not a clinician admitted to this room now; the attesting clinician joins first');
    }
  }
  if (c.method === 'electronic' && c.attestedBy) throw new SfuError('INVALID_CONSENT', 'consent.attestedBy: only a verbal consent is attested');
  return c;
}

export function validateLocation(value: unknown, role: Role, rules: SafetyRules, root = 'location'): LocationInput {
  if (value === undefined || value === null) throw new SfuError('LOCATION_REQUIRED', 'join needs location: {description, region, source, capturedAt, emergencyContact}');
  const l = shape(locationCheck, value, root, 'INVALID_LOCATION');
  const captured = parseRfc3339(l.capturedAt);
  if (captured === undefined) {
    throw new SfuError('INVALID_LOCATION', `${root}.capturedAt: must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T10:00:00Z or 2026-12-01T10:00:00-08:00`);
  }
  if (captured > Date.now() + 5 * 60_000) throw new SfuError('INVALID_LOCATION', `${root}.capturedAt: is in the future`);
  if (emergencyContactRequired(role, rules) && !l.emergencyContact) {
    throw new SfuError('INVALID_LOCATION', `${root}.emergencyContact: is required for a ${role}`);
  }
  return { ...l, capturedAt: new Date(captured).toISOString() };
}
