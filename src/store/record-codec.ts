import type { FieldCipher } from './cipher.ts';
import type { Consent, Location, ParticipantRecords } from './types.ts';

/**
 * How records map to stored columns, shared by both adapters: what is sealed (names, location,
 * emergency contact, remote address) and what stays clear for queries (ids, role, scopes, source).
 */
export interface ConsentRow {
  kind: 'grant' | 'withdrawal';
  policy_version: string | null;
  scopes: string;
  relation: string | null;
  granted_by_name_enc: string | null;
  method: string | null;
  attested_by: string | null;
  at: string;
}

export interface LocationRow {
  source: string;
  data_enc: string;
  captured_at: string;
  recorded_at: string;
}

export function consentGrantRow(c: Consent, at: string, cipher: FieldCipher): ConsentRow {
  return {
    kind: 'grant',
    policy_version: c.policyVersion,
    scopes: JSON.stringify(c.scopes),
    relation: c.grantedBy.relation,
    granted_by_name_enc: cipher.seal(c.grantedBy.name),
    method: c.method,
    attested_by: c.attestedBy ?? null,
    at,
  };
}

/**
 * The detail of a `consent.granted` audit entry, the same for the admission's consent and for a
 * consent granted again (grantConsent): ids, role and what was consented to; never the name.
 */
export function consentGrantedDetail(r: { sessionId: string; identity: string; role: string; consent: Consent }): Record<string, unknown> {
  return {
    sessionId: r.sessionId, identity: r.identity, role: r.role, policyVersion: r.consent.policyVersion, scopes: r.consent.scopes,
    relation: r.consent.grantedBy.relation, method: r.consent.method, attestedBy: r.consent.attestedBy ?? null,
  };
}

export function withdrawalRow(scopes: readonly string[], at: string): ConsentRow {
  return { kind: 'withdrawal', policy_version: null, scopes: JSON.stringify(scopes), relation: null, granted_by_name_enc: null, method: null, attested_by: null, at };
}

export function locationRow(l: Location, recordedAt: string, cipher: FieldCipher): LocationRow {
  const { source, capturedAt, ...sealed } = l;
  // Coordinates are stored only when given: the sealed object simply lacks them otherwise.
  return { source, data_enc: cipher.sealJson(sealed), captured_at: capturedAt, recorded_at: recordedAt };
}

export function locationFromRow(r: LocationRow, cipher: FieldCipher): Location & { recordedAt: string } {
  const sealed = cipher.openJson<Omit<Location, 'source' | 'capturedAt'>>(r.data_enc);
  return { ...sealed, source: r.source as Location['source'], capturedAt: r.captured_at, recordedAt: r.recorded_at };
}

export function consentFromRow(r: ConsentRow, cipher: FieldCipher): ParticipantRecords['consents'][number] {
  return {
    kind: r.kind,
    at: r.at,
    policyVersion: r.policy_version ?? '',
    scopes: JSON.parse(r.scopes) as string[],
    grantedBy: { relation: (r.relation ?? 'self') as Consent['grantedBy']['relation'], name: r.granted_by_name_enc ? cipher.open(r.granted_by_name_enc) : '' },
    method: (r.method ?? 'electronic') as Consent['method'],
    attestedBy: r.attested_by ?? undefined,
  };
}
