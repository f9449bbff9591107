/**
 * The details a guardian gives at every join (the emergency contact, who gives consent), kept on
 * this device so they are typed once: localStorage, this origin only, until "Forget these details".
 * Never the link's token, never where the person is (that changes and is asked every time).
 */
const KEY = 'sfu.guardianDetails.v1';

export interface GuardianDetails {
  readonly contactName?: string;
  readonly contactPhone?: string;
  readonly consentName?: string;
  readonly consentRelation?: string;
}

const FIELDS: readonly (readonly [keyof GuardianDetails, string])[] = [
  ['contactName', 'contact-name'], ['contactPhone', 'contact-phone'], ['consentName', 'consent-name'], ['consentRelation', 'consent-relation'],
];

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

export function loadGuardianDetails(): GuardianDetails | undefined {
  try {
    const raw = storage()?.getItem(KEY);
    const parsed = raw ? JSON.parse(raw) as unknown : undefined;
    return parsed && typeof parsed === 'object' ? parsed as GuardianDetails : undefined;
  } catch {
    return undefined;
  }
}

/** Puts the remembered details in the form's empty fields; true when there were some. */
export function fillGuardianDetails(): boolean {
  const saved = loadGuardianDetails();
  if (!saved) return false;
  for (const [key, id] of FIELDS) {
    const field = document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null;
    const value = saved[key];
    if (!field || typeof value !== 'string' || !value) continue;
    if (field instanceof HTMLSelectElement) {
      if ([...field.options].some((o) => o.value === value)) {
        field.value = value;
        field.dataset.touched = '1';
      }
    } else if (!field.value) {
      field.value = value;
    }
  }
  return true;
}

/** Keeps what the form holds now (the fields of this list only). */
export function saveGuardianDetails(): void {
  const details: Record<string, string> = {};
  for (const [key, id] of FIELDS) {
    const field = document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null;
    const value = field && !field.closest('[hidden]') ? field.value.trim() : '';
    if (value) details[key] = value;
  }
  try {
    if (Object.keys(details).length > 0) storage()?.setItem(KEY, JSON.stringify(details));
  } catch {
    // Storage full or refused (private mode): nothing remembered, nothing else changes.
  }
}

export function forgetGuardianDetails(): void {
  try {
    storage()?.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
