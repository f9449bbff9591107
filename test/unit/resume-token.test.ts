import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ResumeTokens } from '../../src/auth/resume-token.ts';

const k1 = { key: randomBytes(32) };
const k2 = { key: randomBytes(32) };

describe('resume tokens', () => {
  it('any node with the records key reads what another issued: the session and the issuing node', () => {
    const session = randomUUID();
    const token = new ResumeTokens([k1], 'node-a.example_1').issue('room-1', 'kid-1', session);
    expect(token.length).toBeLessThanOrEqual(256);
    expect(new ResumeTokens([k1], 'node-b').read(token, 'room-1', 'kid-1')).toEqual({ sessionId: session, node: 'node-a.example_1' });
    expect(new ResumeTokens([k1], '').read(new ResumeTokens([k1], '').issue('r', 'i', session), 'r', 'i')).toEqual({ sessionId: session, node: '' });
  });

  it('is bound to its room and identity, and refuses anything altered or signed with another key', () => {
    const tokens = new ResumeTokens([k1], 'node-a');
    const session = randomUUID();
    const token = tokens.issue('room-1', 'kid-1', session);
    expect(tokens.read(token, 'room-2', 'kid-1')).toBeUndefined();
    expect(tokens.read(token, 'room-1', 'kid-2')).toBeUndefined();
    const [v, s, n, mac] = token.split('.');
    expect(tokens.read([v, randomUUID(), n, mac].join('.'), 'room-1', 'kid-1')).toBeUndefined();
    expect(tokens.read([v, s, Buffer.from('node-z').toString('base64url'), mac].join('.'), 'room-1', 'kid-1')).toBeUndefined();
    expect(tokens.read([v, s, n, `${mac!.slice(0, -1)}${mac!.endsWith('A') ? 'B' : 'A'}`].join('.'), 'room-1', 'kid-1')).toBeUndefined();
    expect(tokens.read(`r2.${s}.${n}.${mac}`, 'room-1', 'kid-1')).toBeUndefined();
    expect(tokens.read('not a token', 'room-1', 'kid-1')).toBeUndefined();
    expect(new ResumeTokens([k2], 'node-a').read(token, 'room-1', 'kid-1')).toBeUndefined();
  });

  it('after a key rotation (new key first), tokens signed with the old key are still read', () => {
    const session = randomUUID();
    const old = new ResumeTokens([k1], 'node-a').issue('room-1', 'kid-1', session);
    const rotated = new ResumeTokens([k2, k1], 'node-b');
    expect(rotated.read(old, 'room-1', 'kid-1')).toEqual({ sessionId: session, node: 'node-a' });
    expect(new ResumeTokens([k1], 'node-a').read(rotated.issue('room-1', 'kid-1', session), 'room-1', 'kid-1')).toBeUndefined();
  });
});
