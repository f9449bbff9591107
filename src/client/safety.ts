import type { ConsentInput, ConsentScope, LocationInput } from './protocol.ts';
import type { RoomLink } from './link-check.ts';
import { fillRegionSelect } from './regions.ts';

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
  | { ok: false; field: string; message: string };

type Requires = RoomLink['requires'];

function input(id: string): HTMLInputElement {
  return document.getElementById(id) as HTMLInputElement;
}

function value(id: string): string {
  return input(id).value.trim();
}

function text(id: string, words: string): void {
  const e = document.getElementById(id);
  if (e) e.textContent = words;
}

/** Reads and checks the form; `policyVersion` is the version of the consent terms shown. */
export function readSafetyForm(policyVersion: string | undefined, requires: Requires): SafetyForm {
  const description = value('loc-description');
  if (!description) return { ok: false, field: 'loc-description', message: 'Say where you are right now (for example the school and room).' };
  const region = (document.getElementById('loc-region') as HTMLSelectElement).value;
  if (!REGION.test(region)) return { ok: false, field: 'loc-region', message: 'Choose your state or region from the list.' };
  const contactName = value('contact-name');
  const contactPhone = value('contact-phone');
  if (requires.emergencyContact && !contactName && !contactPhone) {
    return { ok: false, field: 'contact-name', message: 'Give the name and phone number of an adult we can call in an emergency.' };
  }
  if ((contactName === '') !== (contactPhone === '')) {
    return { ok: false, field: contactName ? 'contact-phone' : 'contact-name', message: 'Give both the emergency contact\'s name and phone number.' };
  }
  if (contactPhone && !PHONE.test(contactPhone)) {
    return { ok: false, field: 'contact-phone', message: 'The emergency phone number can hold digits, spaces, ( ) . - and a leading +.' };
  }
  if (!policyVersion) {
    return { ok: false, field: 'consent-agree', message: 'The server did not say which consent terms apply. Reload the page; if it happens again, ask for a new link.' };
  }
  const relation = input('consent-relation').value as ConsentInput['grantedBy']['relation'];
  const name = value('consent-name');
  if (!name) {
    return { ok: false, field: 'consent-name', message: requires.guardianConsent ? 'Give the parent\'s or guardian\'s name.' : 'Give the name of the person agreeing.' };
  }
  if (!input('consent-agree').checked) return { ok: false, field: 'consent-agree', message: 'Consent to the session by video is needed to join.' };
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
  text('consent-policy', `version ${policyVersion}`);
  const region = document.getElementById('loc-region') as HTMLSelectElement;
  const linkRegion = link.get('region')?.toUpperCase() ?? undefined;
  if (region.options.length === 0) {
    fillRegionSelect(region, linkRegion);
    if (linkRegion) region.value = linkRegion;
  }
  if (link.get('place') && !value('loc-description')) input('loc-description').value = link.get('place')!;

  const contactNeeded = requires.emergencyContact;
  text('contact-legend', contactNeeded ? 'Who can we call in an emergency?' : 'Who can we call in an emergency? (optional)');
  input('contact-name').required = contactNeeded;
  input('contact-phone').required = contactNeeded;

  const guardian = requires.guardianConsent;
  const relation = document.getElementById('consent-relation') as HTMLSelectElement;
  const self = [...relation.options].find((o) => o.value === 'self');
  if (self) self.hidden = self.disabled = guardian;
  if (!relation.dataset.touched || (guardian && relation.value === 'self')) relation.value = guardian ? 'guardian' : 'self';
  text('consent-legend', guardian ? 'A parent or guardian agrees' : 'Agreeing to the session');
  text('consent-intro', guardian
    ? 'A parent or guardian must agree before a student joins a video session. If you are the student, ask them to fill this in with you.'
    : 'You agree to taking part in this session by video.');
  text('consent-name-label', guardian ? 'Parent\'s or guardian\'s name' : 'Name of the person agreeing');
  text('consent-agree-text', guardian
    ? 'I am this student\'s parent or guardian (or legal representative), and I agree to this session taking place by video.'
    : 'I agree to this session taking place by video.');
}
