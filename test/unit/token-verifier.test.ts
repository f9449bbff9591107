import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/verifier.ts';
import { mintToken } from '../../src/auth/mint.ts';
import { SfuError } from '../../src/shared/errors.ts';

const SECRET = 'unit-secret-0123456789abcdef0123456789abcdef';
const hs = new TokenVerifier({ key: SECRET, algorithms: ['HS256'] });
const now = () => Math.floor(Date.now() / 1000);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SfuError);
    return (err as SfuError).code;
  }
  throw new Error('expected a refusal');
}

function b64(o: object): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

describe('TokenVerifier', () => {
  it('accepts a valid token and returns its grant', () => {
    const grant = hs.verify(mintToken(SECRET, { room: 'r1', identity: 'alice', role: 'clinician' }), 'r1');
    expect(grant).toMatchObject({ room: 'r1', identity: 'alice', role: 'clinician', subscribe: true });
    expect([...grant.publish].sort()).toEqual(['camera', 'mic', 'screen']);
  });

  it('uses the token room when the client names none', () => {
    expect(hs.verify(mintToken(SECRET, { room: 'r1', identity: 'a', role: 'student' })).room).toBe('r1');
  });

  it('never admits a token for room A to room B', () => {
    expect(codeOf(() => hs.verify(mintToken(SECRET, { room: 'A', identity: 'a', role: 'student' }), 'B'))).toBe('WRONG_ROOM');
  });

  it('refuses a missing token', () => {
    expect(codeOf(() => hs.verify(undefined))).toBe('TOKEN_MISSING');
  });

  it('refuses an expired token', () => {
    const t = jwt.sign({ room: 'r', sub: 'a', role: 'student', exp: now() - 60 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(t, 'r'))).toBe('TOKEN_EXPIRED');
  });

  it('refuses a token that is not valid yet', () => {
    const t = jwt.sign({ room: 'r', sub: 'a', role: 'student', exp: now() + 600, nbf: now() + 300 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(t, 'r'))).toBe('TOKEN_NOT_YET_VALID');
  });

  it('refuses a token without exp', () => {
    const t = jwt.sign({ room: 'r', sub: 'a', role: 'student' }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(t, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
  });

  it('refuses alg none', () => {
    const t = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ room: 'r', sub: 'a', role: 'clinician', exp: now() + 600 })}.`;
    expect(codeOf(() => hs.verify(t, 'r'))).toBe('TOKEN_ALGORITHM_NOT_ALLOWED');
  });

  it('refuses a tampered signature', () => {
    const t = mintToken(SECRET, { room: 'r', identity: 'a', role: 'student' });
    const [h, , s] = t.split('.');
    const forged = `${h}.${b64({ room: 'r', sub: 'a', role: 'clinician', exp: now() + 600 })}.${s}`;
    expect(codeOf(() => hs.verify(forged, 'r'))).toBe('TOKEN_INVALID');
  });

  it('refuses a token signed with another secret', () => {
    const t = mintToken('another-secret-0123456789abcdef0123456789', { room: 'r', identity: 'a', role: 'student' });
    expect(codeOf(() => hs.verify(t, 'r'))).toBe('TOKEN_INVALID');
  });

  it('refuses garbage', () => {
    expect(codeOf(() => hs.verify('not-a-jwt', 'r'))).toBe('TOKEN_INVALID');
  });

  it('refuses a missing or unknown role', () => {
    const noRole = jwt.sign({ room: 'r', sub: 'a', exp: now() + 600 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(noRole, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
    const badRole = jwt.sign({ room: 'r', sub: 'a', role: 'admin', exp: now() + 600 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(badRole, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
  });

  it('refuses a missing room or subject', () => {
    const noRoom = jwt.sign({ sub: 'a', role: 'student', exp: now() + 600 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(noRoom))).toBe('TOKEN_CLAIMS_INVALID');
    const noSub = jwt.sign({ room: 'r', role: 'student', exp: now() + 600 }, SECRET, { algorithm: 'HS256' });
    expect(codeOf(() => hs.verify(noSub, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
  });

  it('checks issuer and audience when configured', () => {
    const v = new TokenVerifier({ key: SECRET, algorithms: ['HS256'], issuer: 'district', audience: 'sfu' });
    const good = mintToken(SECRET, { room: 'r', identity: 'a', role: 'student', issuer: 'district', audience: 'sfu' });
    expect(v.verify(good, 'r').identity).toBe('a');
    const badIss = mintToken(SECRET, { room: 'r', identity: 'a', role: 'student', issuer: 'other', audience: 'sfu' });
    expect(codeOf(() => v.verify(badIss, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
    const badAud = mintToken(SECRET, { room: 'r', identity: 'a', role: 'student', issuer: 'district', audience: 'x' });
    expect(codeOf(() => v.verify(badAud, 'r'))).toBe('TOKEN_CLAIMS_INVALID');
  });

  it('makes observers subscribe-only whatever the token says', () => {
    const t = mintToken(SECRET, { room: 'r', identity: 'o', role: 'observer', publish: ['mic', 'camera'] });
    expect(hs.verify(t, 'r').publish.size).toBe(0);
  });

  describe('with an RS256 public key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rs = new TokenVerifier({ key: pem, algorithms: ['RS256', 'ES256'] });

    it('accepts an RS256 token signed by the private key', () => {
      const t = jwt.sign({ room: 'r', sub: 'a', role: 'guardian' }, privateKey, { algorithm: 'RS256', expiresIn: 600 });
      expect(rs.verify(t, 'r').role).toBe('guardian');
    });

    it('refuses an HS256 token signed with the public key as secret (algorithm confusion)', () => {
      const header = b64({ alg: 'HS256', typ: 'JWT' });
      const body = b64({ room: 'r', sub: 'a', role: 'clinician', exp: now() + 600 });
      const sig = createHmac('sha256', pem).update(`${header}.${body}`).digest('base64url');
      expect(codeOf(() => rs.verify(`${header}.${body}.${sig}`, 'r'))).toBe('TOKEN_ALGORITHM_NOT_ALLOWED');
    });
  });
});
