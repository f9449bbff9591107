import type { ConsentInput, ConsentScope, LocationInput } from './protocol.ts';
import type { RoomLink } from './link-check.ts';
import { fillRegionSelect } from './regions.ts';
import { t } from './i18n/language.ts';
import { setText } from './i18n/localize.ts';
import type { PlainKey } from './i18n/catalogue.ts';

/**
 * The "before you join" form: where the person is (and whom to call in an emergency), and the
 * consent to a session by video. The server requires both on every new join and checks them
 * (CONSENT_REQUIRED, INVALID_CONSENT, LOCATION_REQUIRED, INVALID_LOCATION, ...); the link check
 * (link-check.ts) says what this role must give, so the form asks for that in words; this file
 * reads the form, checks what can be checked here, and says in words what is missing.
 */

const REGION = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;
const PHONE = /^\+?[0-9][0-9 ().-]{1,30}$/;

export type SafetyForm =
  | { ok: true; consent: ConsentInput; location: LocationInput }
  | { ok: false; field: string; message: () => string };

type Requires = RoomLink['requires'];

function input(id: string): HTMLInputElement {
  return document.getElementById(id) as HTMLInputElement;
}

function value(id: string): string {
  return input(id).value.trim();
}

function text(id: string, key: () => PlainKey): void {
  const e = document.getElementById(id);
  if (e) setText(e, () => t(key()));
}

function problem(field: string, key: PlainKey): SafetyForm {
  return { ok: false, field, message: () => t(key) };
}

/** Reads and checks the form; `policyVersion` is the version of the consent terms shown. */
export function readSafetyForm(policyVersion: string | undefined, requires: Requires): SafetyForm {
  const description = value('loc-description');
  if (!description) return problem('loc-description', 'form.needPlace');
  const region = (document.getElementById('loc-region') as HTMLSelectElement).value;
  if (!REGION.test(region)) return problem('loc-region', 'form.needRegion');
  const contactName = value('contact-name');
  const contactPhone = value('contact-phone');
  if (requires.emergencyContact && !contactName && !contactPhone) {
    return problem('contact-name', 'form.needContact');
  }
  if ((contactName === '') !== (contactPhone === '')) {
    return problem(contactName ? 'contact-phone' : 'contact-name', 'form.needBoth');
  }
  if (contactPhone && !PHONE.test(contactPhone)) {
    return problem('contact-phone', 'form.badPhone');
  }
  if (!policyVersion) {
    return problem('consent-agree', 'form.noTerms');
  }
  const relation = input('consent-relation').value as ConsentInput['grantedBy']['relation'];
  const name = value('consent-name');
  if (!name) {
    return problem('consent-name', requires.guardianConsent ? 'form.needNameGuardian' : 'form.needName');
  }
  if (!input('consent-agree').checked) return problem('consent-agree', 'form.needAgree');
  const scopes: ConsentScope[] = input('consent-recording').checked ? ['telehealth', 'recording'] : ['telehealth'];
  return {
    ok: true,
    consent: { policyVersion, scopes, grantedBy: { relation, name }, method: 'electronic' },
    location: {
      description,
      region,
      source: 'self-reported',
      capturedAt: new Date().toISOString(),
      ...(contactName ? { emergencyContact: { name: contactName, phone: contactPhone } } : {}),
    },
  };
}

/**
 * Adapts the form to what the link check said this role must give, in words a guardian of a young
 * student understands, and to what the link carries: `region`, `place` (pre-fills).
 */
export function prepareSafetyForm(requires: Requires, policyVersion: string, link: URLSearchParams): void {
  const terms = document.getElementById('consent-terms');
  if (terms) setText(terms, () => t('form.terms', { version: policyVersion }));
  const region = document.getElementById('loc-region') as HTMLSelectElement;
  const linkRegion = link.get('region')?.toUpperCase() ?? undefined;
  if (region.options.length === 0) {
    fillRegionSelect(region, linkRegion);
    if (linkRegion) region.value = linkRegion;
  }
  if (link.get('place') && !value('loc-description')) input('loc-description').value = link.get('place')!;

  const contactNeeded = requires.emergencyContact;
  text('contact-legend', () => contactNeeded ? 'form.contact' : 'form.contactOptional');
  input('contact-name').required = contactNeeded;
  input('contact-phone').required = contactNeeded;

  const guardian = requires.guardianConsent;
  const relation = document.getElementById('consent-relation') as HTMLSelectElement;
  const self = [...relation.options].find((o) => o.value === 'self');
  if (self) self.hidden = self.disabled = guardian;
  if (!relation.dataset.touched || (guardian && relation.value === 'self')) relation.value = guardian ? 'guardian' : 'self';
  text('consent-legend', () => guardian ? 'form.consentGuardian' : 'form.consent');
  text('consent-intro', () => guardian ? 'form.consentIntroGuardian' : 'form.consentIntro');
  text('consent-name-label', () => guardian ? 'form.consentNameGuardian' : 'form.consentName');
  text('consent-agree-text', () => guardian ? 'form.agreeGuardian' : 'form.agree');
}
