import { describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/domain/roles.ts';
import { joinRequirements, validateConsent, validateLocation, type SafetyRules } from '../../src/safety/validate.ts';

const rules: SafetyRules = {
  policyVersions: ['2027-01', '2026-09'],
  guardianRequiredFor: ['student'],
  selfConsentRooms: ['adults'],
  emergencyContactRequiredFor: ['student', 'guardian'],
};

const consent = (relation: 'self' | 'guardian') => ({ policyVersion: '2027-01', scopes: ['telehealth'], grantedBy: { relation, name: 'A' }, method: 'electronic' });
const location = (contact: boolean) => ({
  description: 'School', region: 'US-CA', source: 'self-reported', capturedAt: new Date().toISOString(),
  ...(contact ? { emergencyContact: { name: 'B', phone: '+1 555 0100' } } : {}),
});
const refused = (f: () => unknown) => {
  try {
    f();
    return false;
  } catch {
    return true;
  }
};

/** What the link check tells a page (joinRequirements) is exactly what join's validation enforces. */
describe('joinRequirements', () => {
  for (const role of ROLES as readonly Role[]) {
    for (const room of ['room-1', 'adults']) {
      it(`${role} in ${room}: guardian consent and emergency contact as join enforces them`, () => {
        const needs = joinRequirements(role, room, rules);
        const attestation = { identity: 'x', clinicians: new Set<string>() };
        expect(refused(() => validateConsent(consent('self'), role, room, rules, attestation))).toBe(needs.guardianConsent);
        expect(refused(() => validateConsent(consent('guardian'), role, room, rules, attestation))).toBe(false);
        expect(refused(() => validateLocation(location(false), role, rules))).toBe(needs.emergencyContact);
        expect(refused(() => validateLocation(location(true), role, rules))).toBe(false);
        expect(refused(() => validateLocation(undefined, role, rules))).toBe(needs.location);
        expect(needs.policyVersion).toBe('2027-01');
      });
    }
  }
});
