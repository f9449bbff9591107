import jwt from 'jsonwebtoken';
import { Value } from '@sinclair/typebox/value';
import { SfuError } from '../shared/errors.ts';
import { ClaimsSchema, DeskClaimsSchema, grantFromClaims } from './grant.ts';
import type { DeskGrant, Grant } from '../domain/roles.ts';

export type Algorithm = 'HS256' | 'RS256' | 'ES256';

export interface VerifierOptions {
  /** HS256 secret, or a PEM public key for RS256/ES256. */
  readonly key: string;
  readonly algorithms: readonly Algorithm[];
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

/**
 * Verifies room tokens: algorithm allow-list checked on the header before anything else,
 * signature, exp required, nbf/iss/aud, then the claims schema and the room.
 */
export class TokenVerifier {
  readonly #opts: VerifierOptions;

  constructor(opts: VerifierOptions) {
    if (opts.algorithms.length === 0) throw new Error('TokenVerifier needs at least one algorithm');
    this.#opts = opts;
  }

  /** @param room the room the client asks for; undefined means "the token's room". */
  verify(token: string | undefined, room?: string): Grant {
    const payload = this.#verified(token);
    const exp = payload.exp!;
    if (!Value.Check(ClaimsSchema, payload)) {
      const first = Value.Errors(ClaimsSchema, payload).First();
      const field = first?.path.slice(1) || 'claims';
      throw new SfuError('TOKEN_CLAIMS_INVALID', `claim ${field}: ${first?.message ?? 'invalid'}`);
    }
    if (room !== undefined && payload.room !== room) {
      throw new SfuError('WRONG_ROOM', 'token is not valid for this room');
    }
    return grantFromClaims(payload, exp);
  }

  /** A safety-desk token: role `desk`, and `rooms` (room ids, or `*` for all). */
  verifyDesk(token: string | undefined): DeskGrant {
    const payload = this.#verified(token);
    const exp = payload.exp!;
    if (!Value.Check(DeskClaimsSchema, payload)) {
      const first = Value.Errors(DeskClaimsSchema, payload).First();
      throw new SfuError('TOKEN_CLAIMS_INVALID', `claim ${first?.path.slice(1) || 'claims'}: ${first?.message ?? 'invalid'}`);
    }
    return { identity: payload.sub, rooms: payload.rooms.includes('*') ? '*' : new Set(payload.rooms), expiresAt: exp * 1000 };
  }

  /** Signature, algorithm allow-list, exp/nbf/iss/aud: the checks every kind of token shares. */
  #verified(token: string | undefined): jwt.JwtPayload {
    if (!token) throw new SfuError('TOKEN_MISSING', 'a token is required');
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new SfuError('TOKEN_INVALID', 'token is malformed');
    const alg = decoded.header.alg;
    if (!this.#opts.algorithms.includes(alg as Algorithm)) {
      throw new SfuError('TOKEN_ALGORITHM_NOT_ALLOWED', `algorithm ${alg} is not allowed`);
    }
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.#opts.key, {
        algorithms: [alg as Algorithm],
        issuer: this.#opts.issuer || undefined,
        audience: this.#opts.audience || undefined,
        clockTolerance: 5,
      }) as jwt.JwtPayload;
    } catch (err) {
      throw mapJwtError(err);
    }
    if (typeof payload.exp !== 'number') throw new SfuError('TOKEN_CLAIMS_INVALID', 'exp claim is required');
    return payload;
  }
}

function mapJwtError(err: unknown): SfuError {
  if (err instanceof jwt.TokenExpiredError) return new SfuError('TOKEN_EXPIRED', 'token has expired');
  if (err instanceof jwt.NotBeforeError) return new SfuError('TOKEN_NOT_YET_VALID', 'token is not valid yet');
  const msg = err instanceof Error ? err.message : '';
  if (msg.includes('audience') || msg.includes('issuer')) {
    return new SfuError('TOKEN_CLAIMS_INVALID', msg.replace(/^jwt /, 'token '));
  }
  return new SfuError('TOKEN_INVALID', 'token signature or format is invalid');
}
