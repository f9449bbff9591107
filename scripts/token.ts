/**
 * Mints a room token (or a safety-desk token) with the secret the server verifies with: jwt.secret
 * (SFU_JWT_SECRET), else `<dataDir>/jwt-secret`, found through the same configuration as `npm start`
 * (SFU_DATA_DIR, the SFU_CONFIG file, default ./data). Refuses (exit 78, JWT_SECRET_NOT_FOUND) when
 * there is none: it never generates a secret of its own.
 *   npm run token -- --room R --identity I --role clinician [--ttl S] [--publish mic,camera] [--no-subscribe] [--jti ID] [--e2ee off|optional|required] [--link [--url URL]]
 *   npm run token -- --role desk --identity I --rooms '*'|room-a,room-b [--ttl S] [--link [--url URL]]      (a panic-channel desk token)
 * Prints the bare token, or with --link a ready-to-open link to the role's page (README.md, "Links to the pages").
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { existingJwtSecret } from '../src/config/secrets.ts';
import { mintDeskToken, mintToken } from '../src/auth/mint.ts';
import { isTokenId } from '../src/auth/grant.ts';
import { baseUrl, issuedFor, pageLink } from '../src/auth/page-links.ts';
import { ROLES, SOURCES, type Role, type Source } from '../src/domain/roles.ts';
import { E2EE_MODES, type E2eeMode } from '../src/domain/e2ee.ts';

const USAGE = `usage: npm run token -- --room R --identity I --role ${ROLES.join('|')} [--ttl SECONDS] [--publish ${SOURCES.join(',')}] [--no-subscribe] [--jti ID] [--e2ee ${E2EE_MODES.join('|')}] [--link [--url URL]]
       npm run token -- --role desk --identity I --rooms '*'|room-a,room-b [--ttl SECONDS] [--link [--url URL]]`;

function fail(msg: string): never {
  process.stderr.write(`token: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      room: { type: 'string' },
      identity: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      publish: { type: 'string' },
      'no-subscribe': { type: 'boolean', default: false },
      jti: { type: 'string' },
      e2ee: { type: 'string' },
      rooms: { type: 'string' },
      link: { type: 'boolean', default: false },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail((err as Error).message);
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');
if (values.url !== undefined && !values.link) fail('--url is for --link (the address the link points to)');
if (values.url !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(values.url)) fail(`--url must be an http:// or https:// URL, got ${JSON.stringify(values.url)}`);
const role = values.role;
if (role === 'desk') {
  if (!values.identity || !values.rooms) fail('a desk token needs --identity and --rooms (\'*\' for every room)');
} else {
  if (!values.room || !values.identity || !role) fail('--room, --identity and --role are required');
  if (!(ROLES as readonly string[]).includes(role)) fail(`unknown role ${role}`);
}
// Nothing the server would refuse is minted (src/auth/grant.ts: the claims it verifies).
const ID_RULE = '1-128 characters of A-Z a-z 0-9 . _ : @ - (the server refuses a token with any other)';
if (values.identity !== undefined && !isTokenId(values.identity)) fail(`--identity must be ${ID_RULE}`);
if (role !== 'desk' && values.room !== undefined && !isTokenId(values.room)) fail(`--room must be ${ID_RULE}`);
const deskRooms = values.rooms?.split(',').map((r) => r.trim()).filter(Boolean);
if (role === 'desk' && (!deskRooms?.length || deskRooms.length > 1000 || deskRooms.some((r) => r.length > 128))) {
  fail('--rooms must list 1-1000 room ids of at most 128 characters each, or \'*\'');
}
if (values.jti !== undefined && (values.jti.length < 1 || values.jti.length > 128)) fail('--jti must be 1-128 characters');
const publish = values.publish?.split(',').map((s) => s.trim()).filter(Boolean);
if (values.e2ee !== undefined && !(E2EE_MODES as readonly string[]).includes(values.e2ee)) fail(`--e2ee must be one of ${E2EE_MODES.join(', ')}`);
for (const s of publish ?? []) if (!(SOURCES as readonly string[]).includes(s)) fail(`unknown source ${s}`);

let config;
let secret: string;
try {
  config = loadConfig();
  secret = existingJwtSecret(config);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`token: ${err.message}\n(see README.md, "Two commands", and docs/configuration.md)\n`);
  process.exit(78);
}

const token = role === 'desk'
  ? mintDeskToken(secret, { identity: values.identity!, rooms: deskRooms!, ttlSeconds: ttl, ...issuedFor(config.jwt) })
  : mintToken(secret, {
    room: values.room!,
    identity: values.identity!,
    role: role as Role,
    ttlSeconds: ttl,
    ...(publish ? { publish: publish as Source[] } : {}),
    ...(values['no-subscribe'] ? { subscribe: false } : {}),
    ...(values.jti ? { jti: values.jti } : {}),
    ...(values.e2ee ? { e2ee: values.e2ee as E2eeMode } : {}),
    ...issuedFor(config.jwt),
  });

const base = values.url ?? baseUrl(config.http, config.http.port);
process.stdout.write(`${values.link ? pageLink(base, token, role as Role | 'desk', config.consent) : token}\n`);
