import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/verifier.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION } from '../helpers/ws-client.ts';
import { safetyClient } from '../helpers/safety-client.ts';

const ROOT = join(import.meta.dirname, '../..');
const POLICIES = ['2027-01', '2026-09'];

/** Runs scripts/token.ts (what `npm run token` hands over to) with only the given SFU_* variables. */
function token(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SFU_')));
  return spawnSync(process.execPath, ['scripts/token.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...clean, ...env } });
}

let srv: TestServer;
beforeAll(async () => {
  // No configured secret: the server generates <dataDir>/jwt-secret, as `npm start` does.
  srv = await startServer({ jwt: { secret: '' }, consent: { policyVersions: POLICIES } });
});
afterAll(async () => { await srv.close(); });

describe('npm run token (scripts/token.ts)', () => {
  it('refuses, coded and with exit 78, when the data dir holds no secret; never creates one', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sfu-token-')), 'data');
    try {
      const r = token(['--room', 'r', '--identity', 'kid', '--role', 'student'], { SFU_DATA_DIR: dir });
      expect(r.status).toBe(78);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('invalid configuration (JWT_SECRET_NOT_FOUND)');
      expect(r.stderr).toContain(`${dir}/jwt-secret does not exist`);
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('--link: a participant link the server admits (the data dir\'s secret, the server\'s current policy version)', async () => {
    const env = { SFU_DATA_DIR: srv.dataDir, SFU_CONSENT_POLICY_VERSIONS: POLICIES.join(',') };
    const r = token(['--room', 'links', '--identity', 'kid', '--role', 'student', '--link', '--url', srv.url], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const link = new URL(r.stdout.trim());
    expect(`${link.origin}${link.pathname}`).toBe(`${srv.url}/`);
    const fragment = new URLSearchParams(link.hash.slice(1));
    expect([...fragment.keys()]).toEqual(['token', 'policy']);
    expect(fragment.get('policy')).toBe(POLICIES[0]);
    const secret = readFileSync(join(srv.dataDir, 'jwt-secret'), 'utf8').trim();
    expect(new TokenVerifier({ key: secret, algorithms: ['HS256'] }).verify(fragment.get('token')!, 'links')).toMatchObject({ identity: 'kid', role: 'student' });
    // What the page then does: join with the token and a consent to the policy version of the link.
    const kid = await RtcClient.connect(srv.wsUrl, { token: fragment.get('token')! });
    const joined = await kid.request('join', { consent: { ...TEST_CONSENT, policyVersion: fragment.get('policy') }, location: TEST_LOCATION });
    expect(joined.participantId).toEqual(expect.any(String));
    kid.close();
  });

  it('--link for a desk: the desk page, with a token the /safety channel accepts', async () => {
    const r = token(['--role', 'desk', '--identity', 'desk-7', '--rooms', '*', '--link', '--url', `${srv.url}/`], { SFU_DATA_DIR: srv.dataDir });
    expect(r.status).toBe(0);
    const link = new URL(r.stdout.trim());
    expect(`${link.origin}${link.pathname}`).toBe(`${srv.url}/desk.html`);
    const desk = await safetyClient(srv.url, new URLSearchParams(link.hash.slice(1)).get('token')!, 'websocket');
    desk.close();
  });

  it('without --link prints the bare token, as before; without --url the link uses the configured public URL', () => {
    const bare = token(['--room', 'r', '--identity', 'doc', '--role', 'clinician'], { SFU_DATA_DIR: srv.dataDir });
    expect(bare.status).toBe(0);
    expect(bare.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const pub = token(['--room', 'r', '--identity', 'doc', '--role', 'clinician', '--link'], { SFU_DATA_DIR: srv.dataDir, SFU_PUBLIC_URL: 'https://sfu.example.org/' });
    expect(pub.stdout).toMatch(/^https:\/\/sfu\.example\.org\/#token=[\w.-]+&policy=2026-09\n$/);
    const hostPort = token(['--room', 'r', '--identity', 'doc', '--role', 'clinician', '--link'], { SFU_DATA_DIR: srv.dataDir, SFU_HTTP_PORT: '8443' });
    expect(hostPort.stdout).toMatch(/^http:\/\/127\.0\.0\.1:8443\/#token=/);
  });

  it('--e2ee puts the room\'s end-to-end encryption mode in the token (the link check reads it back)', async () => {
    const minted = token(['--room', 'r', '--identity', 'doc', '--role', 'clinician', '--e2ee', 'required'], { SFU_DATA_DIR: srv.dataDir });
    expect(minted.status).toBe(0);
    const res = await fetch(`${srv.url}/api/link-check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: minted.stdout.trim() }) });
    expect(((await res.json()) as { e2ee: string }).e2ee).toBe('required');
    const bad = token(['--room', 'r', '--identity', 'doc', '--role', 'clinician', '--e2ee', 'always'], { SFU_DATA_DIR: srv.dataDir });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--e2ee must be one of off, optional, required');
  });

  it('refuses bad input with exit 2 and the usage', () => {
    for (const args of [['--role', 'student', '--identity', 'kid'], ['--room', 'r', '--identity', 'kid', '--role', 'teacher'], ['--room', 'r', '--identity', 'kid', '--role', 'student', '--link', '--url', 'ftp://x'], ['--role', 'desk', '--identity', 'd'], ['--bogus']]) {
      const r = token(args, { SFU_DATA_DIR: srv.dataDir });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: npm run token');
    }
  });

  it('mints nothing the server would refuse: room ids and identities as tokens may carry them, exit 2 otherwise', async () => {
    const long = 'x'.repeat(129);
    for (const [args, message] of [
      [['--room', 'room 12', '--identity', 'kid', '--role', 'student'], '--room must be 1-128 characters'],
      [['--room', 'r', '--identity', 'kid/7', '--role', 'student'], '--identity must be 1-128 characters'],
      [['--room', long, '--identity', 'kid', '--role', 'student'], '--room must be'],
      [['--role', 'desk', '--identity', 'd', '--rooms', ','], '--rooms must list'],
      [['--room', 'r', '--identity', 'kid', '--role', 'student', '--jti', long], '--jti must be'],
    ] as const) {
      const r = token([...args], { SFU_DATA_DIR: srv.dataDir });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(message);
    }
    // The longest room id and identity it mints are admitted.
    const room = `r-${'x'.repeat(126)}`;
    const ok = token(['--room', room, '--identity', 'kid:7@school.example', '--role', 'clinician'], { SFU_DATA_DIR: srv.dataDir });
    expect(ok.status, ok.stderr).toBe(0);
    const c = await RtcClient.connect(srv.wsUrl, { token: ok.stdout.trim() });
    expect((await c.request('join', {})).participantId).toBeTruthy();
    c.close();
  });

  it('--help prints the usage on stdout and exits 0', () => {
    const r = token(['--help'], {});
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: npm run token');
  });
});
