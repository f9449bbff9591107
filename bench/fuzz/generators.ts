/**
 * What the fuzzer sends: raw frames (random bytes, random JSON, huge, deeply nested, binary,
 * invalid UTF-8), structured envelopes for every signalling method with valid data and mutated
 * data, and the building blocks (weird strings, boundary numbers, prototype-pollution keys, ids of
 * every type). Everything is drawn from an Rng, so a seed replays the same choices.
 */
import type { Rng } from './prng.ts';
import type { MediaShapes } from './media-shapes.ts';

/** Every method of docs/protocol.md (run.ts checks that the server's method table has no other). */
export const METHODS = [
  'join', 'createTransport', 'connectTransport', 'produce', 'closeProducer', 'pauseProducer', 'resumeProducer',
  'resumeConsumer', 'pauseConsumer', 'restartIce', 'closeTransport', 'setViewport', 'withdrawConsent',
  'grantConsent', 'updateLocation', 'reportMediaProblem', 'leave', 'e2eeKeys',
] as const;
export type Method = (typeof METHODS)[number];

export const ROLES = ['clinician', 'student', 'guardian', 'observer', 'interpreter'] as const;
export type Role = (typeof ROLES)[number];
export const SOURCES = ['mic', 'camera', 'screen'] as const;
export type Source = (typeof SOURCES)[number];

// ---------------------------------------------------------------------------------------------
// Raw JSON tokens: numbers JSON.stringify cannot write (1e400, -0.0, 1E+2) are put in as markers
// and substituted after stringifying.

const RAW_MARK = '\u0001raw:';
/** A JSON token written as is (e.g. `1e400`, which parses to Infinity). */
export function raw(text: string): string {
  return `${RAW_MARK}${text}\u0001`;
}
const RAW_RE = /"\\u0001raw:([^"\\]*)\\u0001"/g;

/** JSON.stringify, with raw() tokens substituted; undefined for values JSON cannot hold. */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'null' : text.includes('\\u0001raw:') ? text.replace(RAW_RE, '$1') : text;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** An object with an own (enumerable) key, also for `__proto__`, which a literal would not create. */
export function withKey(obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}

const ALL_UNICODE = [
  'é', 'Ünïcödé', '日本語のテキスト', 'שלום', 'مرحبا', '👩‍⚕️🧑‍🎓', '🏳️‍🌈', 'Z̴̡̢̛a̷l̶g̵o̸', '\u202egnp.exe', '\ufeffBOM',
  'zero\u200bwidth', 'a\u0000b', '\u0000', '\ud800', '\udfff', 'x\ud83d', '\u2028\u2029', 'tab\tnew\nline\r', '\\', '"',
  '\u{10ffff}', 'ﬀ', 'İı', 'ß', 'j\u043ein',
];
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
let UNICODE = ALL_UNICODE;

/** The first `n` UTF-16 units of `s`; without lone surrogates when they are turned off (a cut pair is one). */
function cut(s: string, n: number): string {
  const r = s.slice(0, n);
  return UNICODE === ALL_UNICODE ? r : r.replace(LONE_SURROGATES, '\ufffd');
}

/**
 * Whether generated strings may hold lone UTF-16 surrogates (default yes). Turning them off lets a
 * run look past the findings they cause (a lone surrogate that reaches the mediasoup worker).
 */
export function allowLoneSurrogates(allowed: boolean): void {
  UNICODE = allowed ? ALL_UNICODE : ALL_UNICODE.filter((s) => !LONE_SURROGATE.test(s));
}
const TRICKY = [
  '', ' ', 'a', 'null', 'undefined', 'true', 'NaN', '-1', '0', '1e400', '[]', '{}', '../../etc/passwd', '%00', '${7*7}',
  '<script>alert(1)</script>', "' OR 1=1 --", 'sha-256', 'audio', 'video', 'send', 'recv', 'mic', 'telehealth', 'US-CA',
  ...PROTO_KEYS,
];

/** A string of 1-3 kinds: tricky words, unicode, boundary lengths (64/65/128/129), long ones. */
export function weirdString(rng: Rng): string {
  switch (rng.int(0, 7)) {
    case 0: return rng.pick(TRICKY);
    case 1: return rng.pick(UNICODE);
    case 2: return 'x'.repeat(rng.pick([63, 64, 65, 120, 121, 127, 128, 129, 300, 301]));
    case 3: return `${'a'.repeat(63)}😀`; // 65 UTF-16 units, 64 code points
    case 4: return 'é'.repeat(rng.pick([32, 33, 64, 65]));
    case 5: return rng.pick(UNICODE) + rng.pick(TRICKY) + rng.pick(UNICODE);
    case 6: return 'y'.repeat(rng.int(1000, 9000));
    default: return randomText(rng, rng.int(1, 40));
  }
}

/** Printable and not-so-printable characters (BMP, astral, controls). */
export function randomText(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = rng.int(0, 9);
    if (k < 6) s += String.fromCharCode(rng.int(0x20, 0x7e));
    else if (k < 8) s += String.fromCharCode(rng.int(0xa0, 0xd7ff));
    else if (k < 9) s += String.fromCodePoint(rng.int(0x10000, 0x10ffff));
    else s += String.fromCharCode(rng.int(0, 0x1f));
  }
  return s;
}

/** Numbers at the edges of the schemas and of JSON (some as raw tokens: 1e400 parses to Infinity). */
export function boundaryNumber(rng: Rng): number | string {
  return rng.pick<number | string>([
    0, -0, 1, -1, 0.5, -0.5, 1e-300, 127, 128, 255, 256, 8191, 8192, 8193, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31),
    2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e20, 1e21, 1.7976931348623157e308, -1.7976931348623157e308,
    5e-324, raw('1e400'), raw('-1e400'), raw('1E+2'), raw('-0.0'), raw('1.0'), raw('1e-400'), raw('123456789012345678901234567890'),
  ]);
}

/** Ids of every type: valid (integers, strings of 1-64) and not (negative, floats, long, objects...). */
export function weirdId(rng: Rng): unknown {
  switch (rng.int(0, 13)) {
    case 0: return rng.int(0, 1_000_000);
    case 1: return 0;
    case 2: return 2 ** 53 - 1 - rng.int(0, 1000);
    case 3: return 1e20 + rng.int(0, 1000) * 1e6;
    case 4: return -rng.int(1, 1000);
    case 5: return rng.int(1, 1000) + 0.5;
    case 6: return cut(`w${rng.u32()}${rng.pick(UNICODE)}`, rng.int(2, 64));
    case 7: return `${'i'.repeat(58)}${rng.int(100000, 999999)}`; // exactly 64
    case 8: return `${'i'.repeat(59)}${rng.int(100000, 999999)}`; // 65
    case 9: return '';
    case 10: return rng.pick([null, true, false]);
    case 11: return rng.pick([[], [1], {}, { id: 1 }]);
    case 12: return raw(rng.pick(['1e400', '-0.0', '1.0', '1E3']));
    default: return 'x'.repeat(rng.int(65, 2000));
  }
}

/** A random JSON value of bounded depth and size. */
export function randomJson(rng: Rng, depth = 3): unknown {
  const k = rng.int(0, depth > 0 ? 9 : 5);
  switch (k) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return boundaryNumber(rng);
    case 3: return rng.int(-1000, 100000);
    case 4: case 5: return weirdString(rng);
    case 6: case 7: return Array.from({ length: rng.int(0, 5) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 5); i > 0; i--) {
        withKey(o, rng.chance(0.2) ? rng.pick(PROTO_KEYS) : rng.chance(0.5) ? rng.pick(FIELD_NAMES) : cut(weirdString(rng), 40), randomJson(rng, depth - 1));
      }
      return o;
    }
  }
}

/** Field names of the protocol, so that random objects hit real fields now and then. */
const FIELD_NAMES = [
  'id', 'method', 'data', 'room', 'displayName', 'resumeToken', 'consent', 'location', 'direction', 'rtpCapabilities',
  'transportId', 'dtlsParameters', 'fingerprints', 'kind', 'rtpParameters', 'codecs', 'encodings', 'source', 'paused',
  'producerId', 'consumerId', 'width', 'height', 'visible', 'scopes', 'policyVersion', 'grantedBy', 'region',
  'capturedAt', 'emergencyContact', 'ssrc', 'payloadType', 'mimeType', 'clockRate', 'rid', 'mid', 'headerExtensions',
];

/** Deeply nested JSON text: arrays or objects, `levels` deep (V8's parser is iterative; the server must not recurse on it). */
export function deepText(rng: Rng, levels: number): string {
  if (rng.chance(0.5)) return `${'['.repeat(levels)}${rng.chance(0.5) ? '1' : ''}${']'.repeat(levels)}`;
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

// ---------------------------------------------------------------------------------------------
// Raw frames

export interface Frame {
  /** What goes on the wire (Buffers are sent as they are: invalid UTF-8 stays invalid). */
  readonly payload: Buffer;
  readonly binary: boolean;
  /** Generator name, for the statistics. */
  readonly kind: string;
}

const INVALID_UTF8 = [
  [0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xe2, 0x82, 0x28], [0xf0, 0x28, 0x8c, 0xbc], [0xff], [0xfe, 0xff],
  [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98],
];

const text = (s: string, kind: string): Frame => ({ payload: Buffer.from(s, 'utf8'), binary: false, kind });

/**
 * One raw frame. `maxMessageBytes` is the server's limit (frames around it test both sides).
 * Frames over 1 MiB (closed by ws with 1009) and invalid UTF-8 text (closed with 1007) end the
 * connection: the caller reconnects.
 */
export function rawFrame(rng: Rng, maxMessageBytes: number, envelope: () => string): Frame {
  const kind = rng.weighted({
    garbage: 10, bytesText: 1, invalidUtf8: 1, json: 12, almostEnvelope: 16, huge: 3, atLimit: 3, giant: 0.1,
    deep: 4, deepInData: 5, binary: 5, binaryEnvelope: 3, literal: 8, quirky: 8,
  });
  switch (kind) {
    case 'garbage': return text(randomText(rng, rng.int(0, 200)), kind);
    case 'bytesText': return { payload: rng.bytes(rng.int(1, 300)), binary: false, kind };
    case 'invalidUtf8': {
      const valid = Buffer.from(envelope());
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      const at = rng.int(0, valid.length);
      return { payload: Buffer.concat([valid.subarray(0, at), bad, valid.subarray(at)]), binary: false, kind };
    }
    case 'json': return text(toJson(randomJson(rng, 4)), kind);
    case 'almostEnvelope': {
      const o: Record<string, unknown> = {};
      if (rng.chance(0.8)) o.id = rng.chance(0.5) ? weirdId(rng) : rng.int(0, 1_000_000);
      if (rng.chance(0.8)) o.method = rng.chance(0.6) ? rng.pick(METHODS) : randomJson(rng, 1);
      if (rng.chance(0.7)) o.data = randomJson(rng, 3);
      for (let i = rng.int(0, 2); i > 0; i--) withKey(o, rng.chance(0.3) ? rng.pick(PROTO_KEYS) : rng.pick(FIELD_NAMES), randomJson(rng, 2));
      return text(toJson(o), kind);
    }
    case 'huge': {
      const n = rng.int(maxMessageBytes + 1, maxMessageBytes * 3);
      return text(JSON.stringify({ id: rng.int(0, 1000), method: 'join', data: { displayName: 'x'.repeat(n) } }), kind);
    }
    case 'atLimit': {
      // A valid envelope of exactly the limit, or one byte over (the limit counts bytes, not characters).
      const target = maxMessageBytes + rng.int(-1, 1);
      const head = JSON.stringify({ id: rng.int(0, 1000), method: 'join', data: { displayName: '' } });
      const fill = rng.chance(0.5) ? 'x'.repeat(Math.max(0, target - head.length)) : 'é'.repeat(Math.max(0, Math.floor((target - head.length) / 2)));
      return text(head.replace('"displayName":""', `"displayName":"${fill}"`), kind);
    }
    case 'giant': return text(`{"id":1,"method":"join","data":{"displayName":"${'g'.repeat(1024 * 1024 + rng.int(1, 1000))}"}}`, kind);
    case 'deep': return text(deepText(rng, rng.pick([100, 1000, 5000, 10000, 30000])), kind);
    case 'deepInData': {
      const method = rng.pick(METHODS);
      const field = rng.pick(['consent', 'location', 'rtpParameters', 'rtpCapabilities', 'dtlsParameters', 'displayName', 'scopes']);
      return text(`{"id":${rng.int(0, 1_000_000)},"method":"${method}","data":{"${field}":${deepText(rng, rng.pick([50, 500, 2000, 8000]))}}}`, kind);
    }
    case 'binary': return { payload: rng.bytes(rng.int(0, 500)), binary: true, kind };
    case 'binaryEnvelope': return { payload: Buffer.from(envelope()), binary: true, kind };
    case 'literal': return text(rng.pick(['', ' ', 'null', 'true', 'false', '0', '-1', '1e400', '"join"', '[]', '{}', '[{}]', '{"id":null}', '\n', '{"id":1}', '{"method":"join"}', '{"id":1,"method":""}', '{"id":-1,"method":"join"}', '{"id":1.5,"method":"join"}']), kind);
    default: {
      // Almost JSON: BOM, comments, trailing commas, single quotes, NaN, duplicate keys, trailing garbage.
      const env = envelope();
      return text(rng.pick([
        `\ufeff${env}`, `${env}garbage`, `${env}\n${env}`, env.replace('{', "{'x':1,"), env.replace('}', ',}'), `/*c*/${env}`,
        env.replace(/"id":[^,]*/, '"id":NaN'), env.replace('{', '{"id":"dup",'), env.replace('{', '{"method":"leave",'),
        `${env.slice(0, rng.int(0, env.length - 1))}`, env.replaceAll('"', "'"), ` \t\r\n${env} \t\r\n`,
      ]), kind);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Valid data for each method

/** What an agent knows when building a request: its own objects, other agents' and stale ones. */
export interface Knowledge {
  transports: { id: string; direction: 'send' | 'recv' }[];
  producers: { id: string; kind: 'audio' | 'video'; source: Source }[];
  consumers: { id: string; kind: 'audio' | 'video' }[];
  /** Ids seen elsewhere (other participants' objects) or closed since. */
  foreign: string[];
  /** The router's RTP capabilities (from a join response) and the client device's. */
  deviceCaps: unknown;
  resumeToken?: string | undefined;
  role: Role;
  publish: readonly Source[];
  /** Clinician identities in the room (a verbal consent names one). */
  clinicians: string[];
  /** Other participants' ids (join response, participantJoined, e2eeRekey): where e2eeKeys sends keys. */
  peers: string[];
}

export function emptyKnowledge(role: Role, deviceCaps: unknown): Knowledge {
  return { transports: [], producers: [], consumers: [], foreign: [], deviceCaps, role, publish: SOURCES, clinicians: [], peers: [] };
}

function randomUuid(rng: Rng): string {
  const h = () => rng.u32().toString(16).padStart(8, '0');
  const x = h() + h() + h() + h();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-a${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

/** An id for a reference field: mostly a real one, sometimes someone else's, a stale or a made-up one. */
function refId(rng: Rng, own: readonly string[], k: Knowledge): string {
  const r = rng.float();
  if (own.length && r < 0.6) return rng.pick(own);
  if (k.foreign.length && r < 0.8) return rng.pick(k.foreign);
  if (r < 0.9) return randomUuid(rng);
  return rng.pick(['nope', 'x'.repeat(64), '0', 'undefined', '__proto__', 'constructor', cut(randomText(rng, rng.int(1, 20)), 64) || 'z']);
}

export function validConsent(rng: Rng, k: Knowledge): Record<string, unknown> {
  const verbal = k.clinicians.length > 0 && rng.chance(0.2);
  const relation = k.role === 'student' ? rng.pick(['guardian', 'legal-representative']) : rng.pick(['self', 'guardian', 'legal-representative']);
  return {
    policyVersion: '2026-09',
    scopes: rng.chance(0.3) ? ['telehealth', 'recording'] : ['telehealth'],
    grantedBy: { relation, name: rng.chance(0.8) ? 'Test Guardian' : rng.pick(UNICODE.filter((s) => !/[\u0000-\u001f\ud800-\udfff]/.test(s))) },
    method: verbal ? 'verbal-attested' : 'electronic',
    ...(verbal ? { attestedBy: rng.pick(k.clinicians) } : {}),
  };
}

export function validLocation(rng: Rng): Record<string, unknown> {
  return {
    description: rng.pick(['Test School, room 4', 'Home, kitchen', 'Lincoln Elementary, room 12', 'Bibliothèque, salle 2']),
    region: rng.pick(['US-CA', 'US-NY', 'GB-LND', 'FR-75', 'US-TX']),
    source: rng.pick(['self-reported', 'device-geolocation', 'ip']),
    ...(rng.chance(0.4) ? { coordinates: { lat: rng.int(-90000, 90000) / 1000, lon: rng.int(-180000, 180000) / 1000, ...(rng.chance(0.5) ? { accuracyMeters: rng.int(1, 5000) } : {}) } } : {}),
    capturedAt: new Date(Date.now() - rng.int(1000, 86_400_000)).toISOString(),
    emergencyContact: { name: 'Test Contact', phone: rng.pick(['+1 555 0100', '+44 20 7946 0000', '555-0199']) },
  };
}

function fingerprint(rng: Rng): { algorithm: string; value: string } {
  const algorithm = rng.chance(0.85) ? 'sha-256' : rng.pick(['sha-1', 'sha-224', 'sha-384', 'sha-512', 'md5', 'SHA-256', 'x']);
  const bytes = algorithm === 'sha-1' ? 20 : algorithm === 'sha-512' ? 64 : algorithm === 'sha-384' ? 48 : 32;
  const value = [...rng.bytes(bytes)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  return { algorithm, value };
}

/** Valid `data` for a method (valid in shape; the ids may or may not be the caller's). */
export function validData(rng: Rng, method: Method, k: Knowledge, media: MediaShapes): Record<string, unknown> {
  const tIds = k.transports.map((t) => t.id);
  const pIds = k.producers.map((p) => p.id);
  const cIds = k.consumers.map((c) => c.id);
  switch (method) {
    case 'join':
      if (k.resumeToken && rng.chance(0.3)) return { resumeToken: k.resumeToken };
      return {
        consent: validConsent(rng, k), location: validLocation(rng),
        // The fuzz server's rooms are `optional` E2EE: a key (of the right format; the server never checks the point) opens them encrypted.
        ...(rng.chance(0.95) ? { e2ee: { publicKey: publicKeyLike(rng) } } : {}),
        ...(rng.chance(0.6) ? { displayName: rng.pick(['Sam', 'Ms Rivera', 'Élodie', '李雷', 'x'.repeat(64)]) } : {}),
      };
    case 'createTransport': {
      const direction = rng.chance(0.5) ? 'send' : 'recv';
      return direction === 'recv' || rng.chance(0.1) ? { direction, rtpCapabilities: k.deviceCaps } : { direction };
    }
    case 'connectTransport':
      return {
        transportId: refId(rng, tIds, k),
        dtlsParameters: { ...(rng.chance(0.8) ? { role: rng.pick(['client', 'server', 'auto']) } : {}), fingerprints: Array.from({ length: rng.int(1, 3) }, () => fingerprint(rng)) },
      };
    case 'produce': {
      const send = k.transports.filter((t) => t.direction === 'send').map((t) => t.id);
      const source = rng.chance(0.8) && k.publish.length ? rng.pick(k.publish) : rng.pick(SOURCES);
      const shape = media.forSource(rng, source);
      return { transportId: refId(rng, send.length ? send : tIds, k), kind: shape.kind, rtpParameters: shape.rtpParameters, source, ...(rng.chance(0.2) ? { paused: rng.chance(0.5) } : {}) };
    }
    case 'closeProducer': case 'pauseProducer': case 'resumeProducer':
      return { producerId: refId(rng, pIds, k) };
    case 'resumeConsumer': case 'pauseConsumer':
      return { consumerId: refId(rng, cIds, k) };
    case 'restartIce': case 'closeTransport':
      return { transportId: refId(rng, tIds, k) };
    case 'setViewport': {
      const video = k.consumers.filter((c) => c.kind === 'video').map((c) => c.id);
      return {
        consumerId: refId(rng, video.length ? video : cIds, k),
        width: rng.chance(0.8) ? rng.pick([0, 160, 320, 640, 1280, 1920]) : rng.int(0, 8192),
        height: rng.chance(0.8) ? rng.pick([0, 90, 180, 200, 201, 360, 400, 401, 720, 1080]) : rng.int(0, 8192),
        visible: rng.chance(0.75),
      };
    }
    case 'withdrawConsent':
      // Mostly `recording` (media goes on); `telehealth` ends the participant's media for the session.
      return { scopes: rng.chance(0.93) ? ['recording'] : rng.pick([['telehealth'], ['telehealth', 'recording'], ['recording', 'telehealth']]) };
    case 'grantConsent':
      // Consent given again: valid only after a telehealth withdrawal (else CONSENT_IN_FORCE).
      return { consent: validConsent(rng, k) };
    case 'updateLocation':
      return { location: validLocation(rng) };
    case 'reportMediaProblem':
      return {
        code: rng.pick(['MEDIA_ICE_FAILED', 'MEDIA_DTLS_FAILED', 'MEDIA_NO_INBOUND']),
        direction: rng.pick(['send', 'recv']),
        ...(rng.chance(0.3) ? { cleared: true } : {}),
      };
    case 'leave':
      return {};
    case 'e2eeKeys': {
      const to = () => (k.peers.length && rng.chance(0.8) ? rng.pick(k.peers) : refId(rng, [], k));
      const keys = Array.from({ length: rng.int(1, 3) }, () => ({ to: to(), blob: Buffer.from(rng.bytes(rng.int(1, 384))).toString('base64url') }));
      return { epoch: rng.chance(0.8) ? rng.int(0, 20) : rng.pick([0, 0xffff_ffff]), keys: keys.filter((e, i) => keys.findIndex((x) => x.to === e.to) === i) };
    }
  }
}

/** 0x04 and 64 random bytes, base64url: the format of an uncompressed P-256 public key. */
function publicKeyLike(rng: Rng): string {
  return Buffer.concat([Buffer.from([4]), Buffer.from(rng.bytes(64))]).toString('base64url');
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** A value of a different JSON type than `v`. */
function otherType(rng: Rng, v: unknown): unknown {
  const options: unknown[] = [null, true, 0, -1, 1.5, '', 'str', [], {}, [v], { value: v }, raw('1e400')];
  const filtered = options.filter((o) => typeof o !== typeof v || Array.isArray(o) !== Array.isArray(v));
  return rng.pick(filtered.length ? filtered : options);
}

/** All paths to nodes of a JSON tree (bounded), for picking a place to mutate. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  out.push(prefix);
  if (out.length > 200 || depth > 8) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out, depth + 1));
  else if (v && typeof v === 'object') for (const key of Object.keys(v)) paths((v as Record<string, unknown>)[key], [...prefix, key], out, depth + 1);
  return out;
}

/** A deep copy that keeps own `__proto__` keys and raw() tokens. */
function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * Mutates a JSON tree at 1-3 random places: drop a field, change its type, add a field (incl.
 * __proto__/constructor), boundary numbers, long and unicode strings, deep nesting, duplicate array
 * entries. Returns the mutated copy and the list of mutations (for the finding reports), and, when
 * every mutation only added a key the object did not have and the protocol does not know (a
 * `__proto__`-like key or a made-up one), the paths of those keys: the schemas must refuse them.
 */
export function mutate(rng: Rng, value: unknown): { value: unknown; mutations: string[]; unknownFields: string[] | undefined } {
  let root: unknown = clone(value) ?? {};
  const mutations: string[] = [];
  const unknownFields: string[] = [];
  let onlyUnknownFields = true;
  for (let n = rng.int(1, 3); n > 0; n--) {
    const all = paths(root);
    const path = rng.pick(all);
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1];
    const parent = parentPath.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)?.[k], root) as Record<string | number, unknown> | unknown[] | undefined;
    const node = path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)?.[k], root);
    const op = rng.weighted({ drop: 3, type: 4, extra: 3, proto: 2, boundary: 3, long: 2, unicode: 2, nested: 1, dupArray: 1, replace: 1 });
    const set = (v: unknown) => {
      if (key === undefined || !parent || typeof parent !== 'object') root = v;
      else if (Array.isArray(parent)) parent[key as number] = v;
      else withKey(parent as Record<string, unknown>, String(key), v);
    };
    const where = path.join('.') || '(root)';
    switch (op) {
      case 'drop':
        if (key !== undefined && parent && typeof parent === 'object') {
          if (Array.isArray(parent)) parent.splice(key as number, 1);
          else delete (parent as Record<string, unknown>)[key as string];
          mutations.push(`drop ${where}`);
        }
        break;
      case 'type': set(otherType(rng, node)); mutations.push(`type ${where}`); break;
      case 'extra': {
        const target = node && typeof node === 'object' && !Array.isArray(node) ? node as Record<string, unknown> : undefined;
        if (target) {
          const k = rng.chance(0.5) ? rng.pick(FIELD_NAMES) : cut(weirdString(rng), 30);
          if (!Object.hasOwn(target, k) && !FIELD_NAMES.includes(k)) unknownFields.push(`${where}.${k}`);
          else onlyUnknownFields = false;
          withKey(target, k, randomJson(rng, 2));
          mutations.push(`extra ${where}.${k.slice(0, 20)}`);
          continue;
        } else if (Array.isArray(node)) {
          node.push(randomJson(rng, 2));
          mutations.push(`push ${where}`);
        }
        break;
      }
      case 'proto': {
        const target = node && typeof node === 'object' && !Array.isArray(node) ? node as Record<string, unknown> : undefined;
        const k = rng.pick(PROTO_KEYS);
        const v = rng.pick<unknown>([{ polluted: 'yes', isAdmin: true }, { toString: 'x' }, 'x', null, [], { constructor: { prototype: { polluted: 'yes' } } }]);
        if (target && !Object.hasOwn(target, k)) unknownFields.push(`${where}.${k}`);
        else onlyUnknownFields = false;
        if (target) withKey(target, k, v);
        else set(withKey({}, k, v));
        mutations.push(`proto ${where}.${k}`);
        continue;
      }
      case 'boundary': set(boundaryNumber(rng)); mutations.push(`boundary ${where}`); break;
      case 'long': set('L'.repeat(rng.pick([65, 129, 257, 1025, 20000]))); mutations.push(`long ${where}`); break;
      case 'unicode': set(rng.pick(UNICODE)); mutations.push(`unicode ${where}`); break;
      case 'nested': set(JSON.parse(deepText(rng, rng.pick([20, 200, 2000])))); mutations.push(`nested ${where}`); break;
      case 'dupArray':
        if (Array.isArray(node) && node.length) {
          for (let i = rng.int(1, 40); i > 0; i--) node.push(clone(node[0]));
          mutations.push(`dup ${where}`);
        } else {
          set([node, node]);
          mutations.push(`wrap ${where}`);
        }
        break;
      default: set(randomJson(rng, 3)); mutations.push(`replace ${where}`); break;
    }
    onlyUnknownFields = false;
  }
  return { value: root, mutations, unknownFields: onlyUnknownFields && unknownFields.length ? unknownFields : undefined };
}

/**
 * An envelope as text. `id` is the request id (any JSON value); `shape` mutates the envelope
 * itself now and then: method spelling, missing or odd data, extra top-level keys.
 */
export function envelopeText(rng: Rng, id: unknown, method: string, data: unknown, opts: { mutateEnvelope?: boolean } = {}): { text: string; note?: string } {
  if (!opts.mutateEnvelope) return { text: toJson(data === undefined ? { id, method } : { id, method, data }) };
  const variant = rng.int(0, 11);
  switch (variant) {
    case 0: return { text: toJson({ id, method: method.toUpperCase() === method ? method.toLowerCase() : method[0]!.toUpperCase() + method.slice(1), data }), note: 'method case' };
    case 1: return { text: toJson({ id, method: ` ${method}`, data }), note: 'method space' };
    case 2: return { text: toJson({ id, method: rng.pick([...PROTO_KEYS, 'j\u043ein', '', 'x'.repeat(65), 'm'.repeat(64), 'JOIN', 'join\u0000']), data }), note: 'odd method' };
    case 3: return { text: toJson({ id, method }), note: 'no data' };
    case 4: return { text: toJson({ id, method, data: null }), note: 'data null' };
    case 5: return { text: toJson({ id, method, data: rng.pick<unknown>(['str', 1, true, [], [data], 0]) }), note: 'data not an object' };
    case 6: return { text: toJson(withKey({ id, method, data }, rng.pick(['extra', ...PROTO_KEYS, 'notification', 'ok', 'error']), randomJson(rng, 1))), note: 'extra top-level key' };
    case 7: return { text: toJson({ method, data }), note: 'no id' };
    case 8: return { text: toJson({ id, data }), note: 'no method' };
    case 9: return { text: toJson({ id, method: rng.pick<unknown>([1, null, [], {}, true]), data }), note: 'method not a string' };
    case 10: return { text: toJson({ data, method, id }), note: 'key order' };
    default: return { text: toJson({ id, method, data }), note: 'plain' };
  }
}
