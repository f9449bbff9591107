/**
 * Mints a development room token from the configured HS256 secret (SFU_JWT_SECRET, or the
 * secret generated in the data dir on first start).
 *   npm run token -- --room R --identity I --role clinician [--ttl S] [--publish mic,camera] [--no-subscribe] [--jti ID]
 *   npm run token -- --role desk --identity I --rooms '*'|room-a,room-b [--ttl S]      (a panic-channel desk token)
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.ts';
import { resolveSecrets } from '../src/config/secrets.ts';
import { mintDeskToken, mintToken } from '../src/auth/mint.ts';
import { ROLES, SOURCES, type Role, type Source } from '../src/domain/roles.ts';

function fail(msg: string): never {
  process.stderr.write(`token: ${msg}\nusage: npm run token -- --room R --identity I --role ${ROLES.join('|')}|desk --rooms '*' [--ttl SECONDS] [--publish ${SOURCES.join(',')}] [--no-subscribe] [--jti ID]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    room: { type: 'string' },
    identity: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    publish: { type: 'string' },
    'no-subscribe': { type: 'boolean', default: false },
    jti: { type: 'string' },
    rooms: { type: 'string' },
  },
  strict: true,
});

const config = loadConfig();
const secrets = resolveSecrets(config);
if (!secrets.jwtSecret) fail('the server is configured for RS256/ES256 (SFU_JWT_PUBLIC_KEY): mint tokens with your private key instead');
if (values.role === 'desk') {
  if (!values.identity || !values.rooms) fail('a desk token needs --identity and --rooms (\'*\' for every room)');
  const ttlDesk = Number(values.ttl);
  process.stdout.write(`${mintDeskToken(secrets.jwtSecret, { identity: values.identity, rooms: values.rooms.split(',').map((r) => r.trim()).filter(Boolean), ttlSeconds: ttlDesk })}\n`);
  process.exit(0);
}
if (!values.room || !values.identity || !values.role) fail('--room, --identity and --role are required');
if (!(ROLES as readonly string[]).includes(values.role)) fail(`unknown role ${values.role}`);
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');
const publish = values.publish?.split(',').map((s) => s.trim()).filter(Boolean);
for (const s of publish ?? []) if (!(SOURCES as readonly string[]).includes(s)) fail(`unknown source ${s}`);

process.stdout.write(`${mintToken(secrets.jwtSecret, {
  room: values.room,
  identity: values.identity,
  role: values.role as Role,
  ttlSeconds: ttl,
  ...(publish ? { publish: publish as Source[] } : {}),
  ...(values['no-subscribe'] ? { subscribe: false } : {}),
  ...(values.jti ? { jti: values.jti } : {}),
  ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
  ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
})}\n`);
