import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iceServersFor, mintTurnCredential } from '../../src/media/turn-credentials.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const SECRET = 'north-0123456789abcdef0123456789abcdef';
const SUBJECT = '7c1e2a9e-0000-4000-8000-000000000001';
const NOW_MS = 1_700_000_000_500;

describe('TURN credentials in coturn\'s REST scheme (use-auth-secret)', () => {
  it('username is <expiry unix seconds>:<subject>, credential base64(HMAC-SHA1(secret, username))', () => {
    const c = mintTurnCredential(SECRET, SUBJECT, 3600, NOW_MS);
    // Expiry: whole seconds of now (1_700_000_000.5 -> 1_700_000_000) plus the TTL.
    expect(c.expiresAt).toBe(1_700_003_600);
    expect(c.username).toBe(`1700003600:${SUBJECT}`);
    // A vector computed outside this code base (Python: base64(hmac.new(secret, username, sha1).digest())).
    expect(c.credential).toBe('vqHSIKAqKxdOoYPH23iHk7F4e0A=');
    // And node:crypto, independently of the module.
    expect(c.credential).toBe(createHmac('sha1', SECRET).update(c.username).digest('base64'));
  });

  it('expires ttlSeconds after now; a past now gives an already expired credential', () => {
    expect(mintTurnCredential(SECRET, SUBJECT, 60, NOW_MS).expiresAt).toBe(1_700_000_060);
    expect(mintTurnCredential(SECRET, SUBJECT, 86_400, NOW_MS).expiresAt).toBe(1_700_086_400);
    const past = mintTurnCredential(SECRET, SUBJECT, 60, Date.now() - 120_000);
    expect(past.expiresAt).toBeLessThan(Date.now() / 1000);
  });

  it('refuses a subject coturn would misread (a colon splits the expiry off) or an empty one', () => {
    expect(() => mintTurnCredential(SECRET, 'a:b', 60, NOW_MS)).toThrow(/colon/);
    expect(() => mintTurnCredential(SECRET, '', 60, NOW_MS)).toThrow(/non-empty/);
  });

  it('iceServers: the static servers unchanged, then one TURN entry for every TURN URL; none without TURN URLs', () => {
    const stun = [{ urls: 'stun:stun.example.org:3478' }];
    const turn = { urls: ['turns:turn.example.org:443?transport=tcp', 'turn:turn.example.org:3478?transport=udp'], secret: SECRET, ttlSeconds: 600 };
    const out = iceServersFor(stun, turn, SUBJECT, NOW_MS);
    expect(out).toEqual([
      { urls: 'stun:stun.example.org:3478' },
      { urls: turn.urls, username: `1700000600:${SUBJECT}`, credential: createHmac('sha1', SECRET).update(`1700000600:${SUBJECT}`).digest('base64') },
    ]);
    expect(out[1]!.urls).not.toBe(turn.urls);
    expect(iceServersFor(stun, { urls: [], secret: '', ttlSeconds: 3600 }, SUBJECT, NOW_MS)).toEqual(stun);
    // Each join gets its own: another subject, another username and credential.
    const other = iceServersFor([], turn, 'another-participant', NOW_MS)[0]!;
    expect(other.username).toBe('1700000600:another-participant');
    expect(other.credential).not.toBe(out[1]!.credential);
  });
});

describe('media.turn configuration', () => {
  const env = { SFU_TURN_URLS: 'turns:turn.example.org:443?transport=tcp, turn:turn.example.org:3478', SFU_TURN_SECRET: SECRET };
  const problems = (e: Record<string, string>): string => {
    try {
      loadConfig({ env: e });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).message;
    }
    return '';
  };

  it('is off by default (no URLs, no secret, 3600 s) and set by SFU_TURN_URLS, SFU_TURN_SECRET and SFU_TURN_TTL_SECONDS', () => {
    expect(loadConfig({ env: {} }).media.turn).toEqual({ urls: [], secret: '', ttlSeconds: 3600 });
    expect(loadConfig({ env: { ...env, SFU_TURN_TTL_SECONDS: '900' } }).media.turn).toEqual({
      urls: ['turns:turn.example.org:443?transport=tcp', 'turn:turn.example.org:3478'], secret: SECRET, ttlSeconds: 900,
    });
  });

  it('bounds the TTL to 60 s - 1 day', () => {
    expect(loadConfig({ env: { ...env, SFU_TURN_TTL_SECONDS: '60' } }).media.turn.ttlSeconds).toBe(60);
    expect(loadConfig({ env: { ...env, SFU_TURN_TTL_SECONDS: '86400' } }).media.turn.ttlSeconds).toBe(86400);
    expect(problems({ ...env, SFU_TURN_TTL_SECONDS: '59' })).toMatch(/media\.turn\.ttlSeconds/);
    expect(problems({ ...env, SFU_TURN_TTL_SECONDS: '86401' })).toMatch(/media\.turn\.ttlSeconds/);
  });

  it('needs a secret of 32 characters or more with URLs, and URLs with a secret; never prints the secret', () => {
    const short = 'short-secret-hunter2';
    const msg = problems({ ...env, SFU_TURN_SECRET: short });
    expect(msg).toMatch(/media\.turn\.secret must be at least 32 characters/);
    expect(msg).not.toContain(short);
    expect(problems({ SFU_TURN_URLS: env.SFU_TURN_URLS })).toMatch(/media\.turn\.secret must be at least 32/);
    const orphan = problems({ SFU_TURN_SECRET: SECRET });
    expect(orphan).toMatch(/media\.turn\.secret is set but media\.turn\.urls is empty/);
    expect(orphan).not.toContain(SECRET);
  });

  it('accepts only turn: and turns: URLs (no STUN, no user info), named by position, never echoed', () => {
    for (const ok of ['turn:10.0.0.1', 'turn:[2001:db8::1]:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp']) {
      expect(loadConfig({ env: { ...env, SFU_TURN_URLS: ok } }).media.turn.urls).toEqual([ok]);
    }
    for (const bad of ['stun:stun.example.org', 'https://turn.example.org', 'turn:user:pass-hunter2@turn.example.org', 'turns:turn.example.org?transport=udp', 'turn:turn.example.org/path']) {
      const msg = problems({ ...env, SFU_TURN_URLS: `turn:fine.example.org,${bad}` });
      expect(msg, bad).toMatch(/media\.turn\.urls\[1\] is not a turn: or turns: URL/);
      expect(msg, bad).not.toContain(bad);
    }
  });
});
