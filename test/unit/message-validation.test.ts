import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { HANDLERS } from '../../src/signalling/handlers/index.ts';
import { RequestEnvelope } from '../../src/signalling/protocol.ts';

const check = (method: string, data: unknown) => HANDLERS.get(method)!.check.Check(data);
const dtls = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] };

describe('request envelope', () => {
  it('accepts {id, method, data} with numeric or string ids', () => {
    expect(Value.Check(RequestEnvelope, { id: 1, method: 'join', data: {} })).toBe(true);
    expect(Value.Check(RequestEnvelope, { id: 'a1', method: 'leave' })).toBe(true);
  });

  it('rejects missing ids, negative ids, extra keys and non-objects', () => {
    for (const bad of [{ method: 'join' }, { id: -1, method: 'join' }, { id: 1, method: 'join', extra: 1 }, [], 'join', null, { id: 1, method: '' }]) {
      expect(Value.Check(RequestEnvelope, bad)).toBe(false);
    }
  });
});

describe('method schemas', () => {
  it('has one handler per documented method', () => {
    expect([...HANDLERS.keys()].sort()).toEqual([
      'closeProducer', 'closeTransport', 'connectTransport', 'createTransport', 'e2eeKeys', 'grantConsent', 'join', 'leave', 'pauseConsumer', 'pauseProducer',
      'produce', 'reportMediaProblem', 'restartIce', 'resumeConsumer', 'resumeProducer', 'setViewport', 'updateLocation', 'withdrawConsent',
    ]);
  });

  it('validates join', () => {
    expect(check('join', {})).toBe(true);
    expect(check('join', { displayName: 'Sam', resumeToken: 'abc' })).toBe(true);
    expect(check('join', { displayName: '' })).toBe(false);
    expect(check('join', { displayName: 'x'.repeat(65) })).toBe(false);
    expect(check('join', { resumeToken: 5 })).toBe(false);
    // e2ee: a public key string (its format is checked by the handler: E2EE_INVALID_KEY), nothing else.
    expect(check('join', { e2ee: { publicKey: 'BAAA' } })).toBe(true);
    expect(check('join', { e2ee: {} })).toBe(false);
    expect(check('join', { e2ee: { publicKey: '' } })).toBe(false);
    expect(check('join', { e2ee: { publicKey: 'x'.repeat(257) } })).toBe(false);
    expect(check('join', { e2ee: { publicKey: 'BAAA', curve: 'P-256' } })).toBe(false);
    expect(check('join', { e2ee: true })).toBe(false);
  });

  it('validates e2eeKeys: an epoch, 1 or more {to, blob} with blob base64url of at most 512 characters', () => {
    const ok = { epoch: 0, keys: [{ to: 'p1', blob: 'AbC-_9' }] };
    expect(check('e2eeKeys', ok)).toBe(true);
    expect(check('e2eeKeys', { ...ok, epoch: 0xffff_ffff, keys: [{ to: 'p1', blob: 'A'.repeat(512) }] })).toBe(true);
    for (const bad of [
      {}, { epoch: 0 }, { keys: ok.keys }, { ...ok, epoch: -1 }, { ...ok, epoch: 0x1_0000_0000 }, { ...ok, epoch: 1.5 }, { ...ok, epoch: '1' },
      { ...ok, keys: [] }, { ...ok, keys: [{ to: 'p1' }] }, { ...ok, keys: [{ blob: 'AA' }] }, { ...ok, keys: [{ to: '', blob: 'AA' }] },
      { ...ok, keys: [{ to: 'x'.repeat(65), blob: 'AA' }] }, { ...ok, keys: [{ to: 'p1', blob: 'A'.repeat(513) }] },
      { ...ok, keys: [{ to: 'p1', blob: 'AA==' }] }, { ...ok, keys: [{ to: 'p1', blob: 'a+b/' }] }, { ...ok, keys: [{ to: 'p1', blob: '' }] },
      { ...ok, keys: [{ to: 'p1', blob: 'AA', from: 'p2' }] }, { ...ok, extra: 1 }, { ...ok, keys: new Array(1001).fill({ to: 'p', blob: 'A' }) },
    ]) expect(check('e2eeKeys', bad), JSON.stringify(bad).slice(0, 100)).toBe(false);
  });

  it('validates grantConsent: a consent object is required (its rules are checked by the handler, naming the field)', () => {
    expect(check('grantConsent', { consent: { policyVersion: '2026-09' } })).toBe(true);
    expect(check('grantConsent', {})).toBe(false);
    expect(check('grantConsent', { consent: {}, location: {} })).toBe(false);
  });

  it('validates createTransport', () => {
    expect(check('createTransport', { direction: 'send' })).toBe(true);
    const opusCap = { kind: 'audio', mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000, channels: 2 };
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [opusCap] } })).toBe(true);
    // Capabilities say what they can: codecs required, each with kind, an audio/ or video/ mimeType, an integer clock rate.
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: {} })).toBe(false);
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [] } })).toBe(false);
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [{ ...opusCap, kind: undefined }] } })).toBe(false);
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [{ ...opusCap, mimeType: 'opus' }] } })).toBe(false);
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [{ ...opusCap, preferredPayloadType: 300 }] } })).toBe(false);
    expect(check('createTransport', { direction: 'recv', rtpCapabilities: { codecs: [opusCap], headerExtensions: [{ uri: 'urn:x' }] } })).toBe(false);
    expect(check('createTransport', { direction: 'both' })).toBe(false);
    expect(check('createTransport', { direction: 'send', extra: true })).toBe(false);
  });

  it('validates connectTransport', () => {
    expect(check('connectTransport', { transportId: 't', dtlsParameters: dtls })).toBe(true);
    expect(check('connectTransport', { transportId: 't', dtlsParameters: { fingerprints: [] } })).toBe(false);
    expect(check('connectTransport', { transportId: '', dtlsParameters: dtls })).toBe(false);
    expect(check('connectTransport', { transportId: 't', dtlsParameters: { ...dtls, role: 'boss' } })).toBe(false);
  });

  it('validates produce', () => {
    const opus = { mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 };
    const params = { codecs: [opus], encodings: [{ ssrc: 1234 }], rtcp: { cname: 'c' }, mid: '0', msid: 'stream track' };
    const ok = { transportId: 't', kind: 'audio', source: 'mic', rtpParameters: params };
    expect(check('produce', ok)).toBe(true);
    expect(check('produce', { ...ok, source: 'speaker' })).toBe(false);
    expect(check('produce', { ...ok, kind: 'data' })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, codecs: [] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, codecs: [{ mimeType: 'audio/opus' }] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, encodings: undefined } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, encodings: [] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, encodings: new Array(9).fill({ ssrc: 1 }) } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, encodings: [{ ssrc: -1 }] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, encodings: [{ ssrc: 1, rtx: {} }] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, codecs: [{ ...opus, payloadType: 128 }] } })).toBe(false);
    expect(check('produce', { ...ok, rtpParameters: { ...params, mid: '' } })).toBe(false);
  });

  it('validates the id-only methods', () => {
    for (const [m, key] of [['closeProducer', 'producerId'], ['pauseProducer', 'producerId'], ['resumeProducer', 'producerId'],
      ['resumeConsumer', 'consumerId'], ['pauseConsumer', 'consumerId'], ['restartIce', 'transportId'], ['closeTransport', 'transportId']] as const) {
      expect(check(m, { [key]: 'x' })).toBe(true);
      expect(check(m, {})).toBe(false);
      expect(check(m, { [key]: 'x'.repeat(65) })).toBe(false);
    }
    expect(check('leave', {})).toBe(true);
    expect(check('leave', { now: true })).toBe(false);
  });
});
