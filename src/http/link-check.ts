import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TokenVerifier } from '../auth/verifier.ts';
import { assertNotRevoked, type RevocationList } from '../auth/revocations.ts';
import { joinRequirements, type SafetyRules } from '../safety/validate.ts';
import { bearerCredential } from '../shared/bearer.ts';
import { SfuError } from '../shared/errors.ts';
import { TokenBucket } from '../shared/token-bucket.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { E2eeMode } from '../domain/e2ee.ts';

export interface LinkCheckOptions {
  readonly verifier: TokenVerifier;
  readonly revocations: RevocationList;
  readonly rules: SafetyRules;
  /** Checks per client address: refill rate and burst (http.linkCheckRateLimit). */
  readonly rateLimit: { readonly requestsPerSecond: number; readonly burst: number };
  readonly metrics: Metrics;
  /** `e2ee.mode`: the E2EE mode of a token without an `e2ee` claim. */
  readonly e2eeMode: E2eeMode;
}

const Body = Type.Object({
  /** The room token; or send it as `Authorization: Bearer <token>` instead. */
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
  /** The room the page will ask for (the link's `room`): a token for another room is WRONG_ROOM, as at join. */
  room: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
}, { additionalProperties: false });

/** Addresses tracked at once; beyond it, new addresses are refused until buckets refill (a flood of spoofed sources cannot grow the map). */
const MAX_ADDRESSES = 10_000;

function tokenFrom(req: FastifyRequest<{ Body: Static<typeof Body> }>): string | undefined {
  return bearerCredential(req.headers.authorization) ?? req.body?.token;
}

/** The `role` claim, read without verification, only to pick which verification applies (desk or room). */
function claimedRole(token: string): unknown {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { role?: unknown }).role;
  } catch {
    return undefined;
  }
}

/**
 * POST /api/link-check (docs/protocol.md, "Checking a link"): the page asks it before it shows any
 * form. The token is verified exactly as at the /rtc upgrade (algorithm, signature, expiry, issuer,
 * audience, claims, room, revocation); nobody is admitted and nothing is recorded. The answer says
 * who the token is for and what that role must give at join (the same rules join applies), or the
 * coded error join would give. Limited per client address (RATE_LIMITED); the token travels in the
 * body or the Authorization header, never in the URL, so it is never in an access log.
 */
export async function linkCheckRoutes(app: FastifyInstance, opts: LinkCheckOptions): Promise<void> {
  const { verifier, revocations, rules, rateLimit } = opts;
  const buckets = new Map<string, TokenBucket>();
  const sweep = setInterval(() => {
    for (const [addr, b] of buckets) if (b.full) buckets.delete(addr);
  }, 10_000).unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const admit = (addr: string) => {
    let b = buckets.get(addr);
    if (!b) {
      if (buckets.size >= MAX_ADDRESSES) return false;
      buckets.set(addr, b = new TokenBucket(rateLimit.requestsPerSecond, rateLimit.burst));
    }
    return b.take();
  };

  // The per-address budget comes first, before the body is read or checked: every request to the
  // route spends it, a malformed one too.
  const limited = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    if (admit(req.ip)) return;
    opts.metrics.linkChecked('RATE_LIMITED');
    throw new SfuError('RATE_LIMITED', `at most ${rateLimit.requestsPerSecond} link checks per second from one address (burst ${rateLimit.burst}); try again shortly`);
  };

  app.post<{ Body: Static<typeof Body> }>('/api/link-check', { schema: { body: Body }, onRequest: limited }, async (req) => {
    try {
      const answer = check(req);
      opts.metrics.linkChecked('ok');
      return answer;
    } catch (err) {
      opts.metrics.linkChecked(err instanceof SfuError ? err.code : 'INTERNAL_ERROR');
      throw err;
    }
  });

  function check(req: FastifyRequest<{ Body: Static<typeof Body> }>) {
    const token = tokenFrom(req);
    if (token && claimedRole(token) === 'desk') {
      const desk = verifier.verifyDesk(token);
      return { kind: 'desk', role: 'desk', expiresAt: new Date(desk.expiresAt).toISOString() };
    }
    const grant = verifier.verify(token, req.body?.room);
    assertNotRevoked(revocations, grant);
    const needs = joinRequirements(grant.role, grant.room, rules);
    return {
      kind: 'room',
      role: grant.role,
      room: grant.room,
      expiresAt: new Date(grant.expiresAt).toISOString(),
      permissions: { publish: [...grant.publish], subscribe: grant.subscribe },
      consent: { policyVersion: needs.policyVersion, policyVersions: needs.policyVersions },
      requires: { location: needs.location, emergencyContact: needs.emergencyContact, guardianConsent: needs.guardianConsent },
      /** The token's E2EE mode (its `e2ee` claim, else `e2ee.mode`): the page can say "end-to-end encrypted" before the form. */
      e2ee: grant.e2ee ?? opts.e2eeMode,
    };
  }
}
