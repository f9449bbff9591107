import type { ConsentInput, ConsentScope, LocationInput } from './protocol.ts';

/**
 * The "before you join" form: where the person is (and whom to call in an emergency), and the
 * consent to a session by video. The server requires both on every new join and checks them
 * (CONSENT_REQUIRED, INVALID_CONSENT, LOCATION_REQUIRED, INVALID_LOCATION, ...); this file only
 * reads the form, checks what can be checked here, and says in words what is missing.
 */

const REGION = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;
const PHONE = /^\+?[0-9][0-9 ().-]{1,30}$/;

export type SafetyForm =
  | { ok: true; consent: ConsentInput; location: LocationInput }
  | { ok: false; field: string; message: string };

function input(id: string): HTMLInputElement {
  return document.getElementById(id) as HTMLInputElement;
}

function value(id: string): string {
  return input(id).value.trim();
}

/** Reads and checks the form; `policyVersion` is the version of the consent terms shown. */
export function readSafetyForm(policyVersion: string | undefined): SafetyForm {
  const description = value('loc-description');
  if (!description) return { ok: false, field: 'loc-description', message: 'Say where you are right now (for example the school and room).' };
  const region = value('loc-region').toUpperCase();
  if (!REGION.test(region)) return { ok: false, field: 'loc-region', message: 'Give your state or region as a code such as US-CA or GB-ENG.' };
  const contactName = value('contact-name');
  const contactPhone = value('contact-phone');
  if ((contactName === '') !== (contactPhone === '')) {
    return { ok: false, field: contactName ? 'contact-phone' : 'contact-name', message: 'Give both the emergency contact\'s name and phone number.' };
  }
  if (contactPhone && !PHONE.test(contactPhone)) {
    return { ok: false, field: 'contact-phone', message: 'The emergency phone number can hold digits, spaces, ( ) . - and a leading +.' };
  }
  if (!policyVersion) {
    return { ok: false, field: 'consent-agree', message: 'Your session link does not say which consent terms apply. Ask the session organiser for a complete link.' };
  }
  const relation = input('consent-relation').value as ConsentInput['grantedBy']['relation'];
  const name = value('consent-name');
  if (!name) return { ok: false, field: 'consent-name', message: 'Give the name of the person giving consent.' };
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
 * Adapts the form to the person's role (read, unverified, from the token: the server decides) and
 * to what the link carries: `policy` (the consent terms version), `region`, `place`.
 */
export function prepareSafetyForm(role: string | undefined, link: URLSearchParams): void {
  const policy = link.get('policy');
  const policyLabel = document.getElementById('consent-policy');
  if (policyLabel) policyLabel.textContent = policy ? `version ${policy}` : '(version not given by your link)';
  if (link.get('region') && !value('loc-region')) input('loc-region').value = link.get('region')!;
  if (link.get('place') && !value('loc-description')) input('loc-description').value = link.get('place')!;
  const minor = role === 'student';
  const relation = input('consent-relation');
  if (!relation.dataset.touched) relation.value = minor ? 'guardian' : 'self';
  const hint = document.getElementById('contact-hint');
  if (hint) hint.hidden = !minor;
  input('contact-name').required = minor;
  input('contact-phone').required = minor;
}

/** The role claim of a JWT, decoded without verification (only to tailor the form). */
export function roleFromToken(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { role?: unknown };
    return typeof claims.role === 'string' ? claims.role : undefined;
  } catch {
    return undefined;
  }
}
