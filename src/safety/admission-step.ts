import type { AdmissionRequest, AdmissionStep } from '../room/admission.ts';
import type { Store } from '../store/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { ConsentInput, LocationInput } from '../domain/consent-location.ts';
import { durableWrite } from './timed.ts';
import { validateConsent, validateLocation, type SafetyRules } from './validate.ts';

/**
 * Consent and location before media: `check` validates both (CONSENT_REQUIRED, INVALID_CONSENT,
 * CONSENT_VERSION_OUTDATED, LOCATION_REQUIRED, INVALID_LOCATION); `commit` writes the admission
 * record (consent, location, audit entries) and resolves only once it is durable.
 */
export function consentAndLocation(store: Store, rules: SafetyRules, metrics: Metrics, log: Logger): AdmissionStep {
  const parsed = new WeakMap<AdmissionRequest, { consent: ConsentInput; location: LocationInput }>();
  return {
    async check(req) {
      const { grant, data } = req;
      const consent = validateConsent(data.consent, grant.role, grant.room, rules, { identity: grant.identity, clinicians: req.clinicians() });
      const location = validateLocation(data.location, grant.role, rules);
      parsed.set(req, { consent, location });
      req.facts.consentScopes = new Set(consent.scopes);
      req.facts.location = { region: location.region, description: location.description };
      req.facts.emergencyContact = location.emergencyContact;
    },
    async commit(req) {
      const records = parsed.get(req);
      if (!records) throw new Error('commit before check');
      await durableWrite(metrics, 'admission', () => store.recordAdmission({
        sessionId: req.participantId,
        room: req.grant.room,
        identity: req.grant.identity,
        role: req.grant.role,
        consent: records.consent,
        location: records.location,
        at: new Date(),
        remoteAddress: req.remoteAddress,
      }));
    },
    async refused(req, code) {
      try {
        await durableWrite(metrics, 'refusal', () => store.recordRefusal({
          room: req.grant.room, identity: req.grant.identity, role: req.grant.role, code, at: new Date(),
        }));
      } catch (err) {
        log.error({ err, code }, 'could not audit a refused admission');
      }
    },
  };
}
