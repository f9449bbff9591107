import { describe, expect, it } from 'vitest';
import { decodeRevocationMessage, encodeRevocationMessage, MAX_REVOCATION_MESSAGE_BYTES } from '../../src/cluster/revocation-message.ts';

const until = Date.UTC(2030, 0, 1);
const valid = { v: 1, node: 'node-a', room: 'room-1', identity: 'kid', until, reason: 'kicked by an administrator' };
const raw = (o: unknown) => JSON.stringify(o);

describe('revocation messages over Redis', () => {
  it('round-trips an identity revocation and a token id revocation', () => {
    for (const r of [
      { room: 'room-1', identity: 'kid', tokenId: undefined, until, reason: 'r' },
      { room: 'room-1', identity: undefined, tokenId: 'jti-7', until, reason: '' },
      { room: 'r'.repeat(128), identity: 'i'.repeat(128), tokenId: 't'.repeat(128), until, reason: 'x'.repeat(200) },
    ]) {
      expect(decodeRevocationMessage(encodeRevocationMessage(r, 'node-a'))).toEqual({ ok: true, node: 'node-a', revocation: r });
    }
  });

  it('drops what is not JSON or too large, before parsing', () => {
    expect(decodeRevocationMessage('kick everyone')).toEqual({ ok: false, problem: 'not-json' });
    expect(decodeRevocationMessage('')).toEqual({ ok: false, problem: 'not-json' });
    expect(decodeRevocationMessage(' '.repeat(MAX_REVOCATION_MESSAGE_BYTES + 1))).toEqual({ ok: false, problem: 'too-large' });
    // Counted in bytes: 700 three-byte characters are 2100 bytes.
    expect(decodeRevocationMessage(raw({ ...valid, reason: '\u20ac'.repeat(700) }))).toEqual({ ok: false, problem: 'too-large' });
  });

  it('accepts exactly the fields of version 1, each within its bounds', () => {
    const bad: unknown[] = [
      null, 42, 'string', [], {},
      { ...valid, v: 2 },
      { ...valid, v: '1' },
      { ...valid, extra: true },
      { ...valid, node: '' },
      { ...valid, node: 'node a' },
      { ...valid, node: 'n'.repeat(65) },
      { ...valid, room: '' },
      { ...valid, room: 'r'.repeat(129) },
      { ...valid, room: 7 },
      { ...valid, identity: '' },
      { ...valid, identity: null },
      { ...valid, tokenId: 'j'.repeat(129) },
      { ...valid, until: 1.5 },
      { ...valid, until: -1 },
      { ...valid, until: '2030-01-01T00:00:00Z' },
      { ...valid, until: 9e15 },
      { ...valid, reason: 'line\nbreak' },
      { ...valid, reason: 'r'.repeat(201) },
      (({ reason: _r, ...rest }) => rest)(valid),
      (({ room: _r, ...rest }) => rest)(valid),
      (({ until: _u, ...rest }) => rest)(valid),
      (({ node: _n, ...rest }) => rest)(valid),
    ];
    for (const m of bad) expect(decodeRevocationMessage(raw(m)), raw(m)).toEqual({ ok: false, problem: 'invalid' });
    expect(decodeRevocationMessage(raw(valid)).ok).toBe(true);
  });

  it('drops a revocation that names neither an identity nor a token id (it would deny nobody, or everybody)', () => {
    const { identity: _i, ...nobody } = valid;
    expect(decodeRevocationMessage(raw(nobody))).toEqual({ ok: false, problem: 'names-nobody' });
  });
});
