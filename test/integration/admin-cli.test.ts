import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../helpers/child.ts';
import { freePort } from '../helpers/free-port.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { startServerProcess } from '../helpers/server-process.ts';
import { startServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.ts';
import { RtcClient, TEST_CONSENT, TEST_LOCATION } from '../helpers/ws-client.ts';

const ROOT = join(import.meta.dirname, '../..');
const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'sfu-admin-cli-'));
  dirs.push(d);
  return d;
};
/** Every output of the CLI in this file, to check that none carries the credential. */
const outputs: string[] = [];

/** The inherited environment without SFU_* settings (a test's own come in `env`). */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SFU_')));
  return { ...base, ...env };
}

/** `npm run admin -- args` as a child process (scripts/admin.ts, or through bootstrap with `viaBootstrap`). */
async function admin(args: string[], env: Record<string, string>, viaBootstrap = false) {
  const argv = viaBootstrap ? ['scripts/bootstrap.mjs', 'admin', ...args] : ['scripts/admin.ts', ...args];
  let stdout = '';
  let stderr = '';
  const c = startChild(process.execPath, argv, { cwd: ROOT, env: cleanEnv(env) });
  c.child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
  c.child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const code = await c.exited;
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  expect(outputs.join('\n')).not.toContain(TEST_ADMIN_TOKEN);
});

describe('npm run admin against a live server', () => {
  let srv: TestServer;
  let env: Record<string, string>;
  let kid: RtcClient;
  let doc: RtcClient;
  let kidSafety: SafetyClient;
  let docSafety: SafetyClient;
  let incidentId: string;
  let kidSession: string;
  const room = 'adm-room-1';

  beforeAll(async () => {
    srv = await startServer({ safety: { tiers: [{ afterSeconds: 0, notify: ['room-clinicians'] }] } });
    // The server's own configuration: its data dir and its admin credential (SFU_ADMIN_TOKEN).
    env = { SFU_ADMIN_TOKEN: TEST_ADMIN_TOKEN, SFU_DATA_DIR: srv.dataDir };
    doc = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'doc-1', 'clinician') });
    await doc.request('join', {});
    kid = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, 'kid-1', 'student') });
    await kid.request('join', {});
    docSafety = await safetyClient(srv.url, srv.mint(room, 'doc-1', 'clinician'), 'websocket');
    kidSafety = await safetyClient(srv.url, srv.mint(room, 'kid-1', 'student'), 'websocket');
    const raised = await kidSafety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: `adm-${Date.now()}` });
    incidentId = raised.data.incidentId;
    await docSafety.waitFor('panic:alert');
    expect((await docSafety.send('panic:ack', { incidentId })).ok).toBe(true);
    expect((await docSafety.send('panic:resolve', { incidentId, outcome: 'continued', note: 'spoke with the school nurse' })).ok).toBe(true);
  });
  afterAll(async () => {
    for (const c of [kidSafety, docSafety]) c?.close();
    for (const c of [kid, doc]) c?.close();
    await srv?.close();
  });

  it('rooms and participants, as text and as JSON', async () => {
    const text = await admin(['rooms', '--url', srv.url], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ROOM\s+PARTICIPANTS\s+WORKER PID\s+E2EE\nadm-room-1\s+2\s+\d+\s+off\n$/);
    const json = await admin(['--json', 'rooms', '--url', srv.url], env); // global options may come first
    expect(JSON.parse(json.stdout)).toEqual({ rooms: [{ roomId: room, participants: 2, workerPid: expect.any(Number), e2ee: { mode: 'off', active: false } }] });
    const people = await admin(['participants', room, '--json', '--url', srv.url], env);
    expect(JSON.parse(people.stdout).participants.map((p: { identity: string; role: string }) => `${p.identity}:${p.role}`).sort()).toEqual(['doc-1:clinician', 'kid-1:student']);
    const table = await admin(['participants', room, '--url', srv.url], env);
    expect(table.stdout).toMatch(/kid-1\s+student\s+yes/);
  });

  it('records lists sessions without names or places; record shows one in full', async () => {
    const list = await admin(['records', room, '--url', srv.url], env);
    expect(list.code).toBe(0);
    const json = await admin(['records', room, '--json', '--url', srv.url], env);
    const sessions = JSON.parse(json.stdout).sessions as { identity: string; sessionId: string }[];
    expect(sessions.map((s) => s.identity).sort()).toEqual(['doc-1', 'kid-1']);
    kidSession = sessions.find((s) => s.identity === 'kid-1')!.sessionId;
    expect(list.stdout).toMatch(new RegExp(`${kidSession}\\s+kid-1\\s+student\\s+\\S+\\s+granted telehealth\\s+1`));
    for (const out of [list.stdout, json.stdout]) {
      for (const personal of [TEST_CONSENT.grantedBy.name, TEST_LOCATION.description, TEST_LOCATION.emergencyContact.phone, TEST_LOCATION.emergencyContact.name]) {
        expect(out).not.toContain(personal);
      }
    }
    const one = await admin(['record', room, kidSession, '--url', srv.url], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`granted telehealth (policy 2026-09, electronic, by guardian ${TEST_CONSENT.grantedBy.name})`);
    expect(one.stdout).toContain(`US-CA, ${TEST_LOCATION.description} (self-reported); emergency contact ${TEST_LOCATION.emergencyContact.name}, ${TEST_LOCATION.emergencyContact.phone}`);
    const missing = await admin(['record', room, 'no-such-session', '--url', srv.url], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('admin: NOT_FOUND: no session no-such-session');
  });

  it('audit --incident, verify and head', async () => {
    const audit = await admin(['audit', room, '--incident', incidentId, '--json', '--url', srv.url], env);
    expect(JSON.parse(audit.stdout).entries.map((e: { kind: string }) => e.kind)).toEqual(['panic.raised', 'panic.acknowledged', 'panic.resolved']);
    const verify = await admin(['verify', '--url', srv.url], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain intact: \d+ entries, reaching the signed head checkpoint \(entry \d+, hash [0-9a-f]{64}/);
    const head = await admin(['head', '--url', srv.url], env);
    expect(head.code).toBe(0);
    expect(head.stdout).toMatch(/^\d+:[0-9a-f]{64}\n/);
  });

  it('incident-report: the timeline on screen, the whole report in a 0600 file, personal data only with --with-records into a file', async () => {
    const shown = await admin(['incident-report', room, '--url', srv.url], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`incident ${incidentId}: medical, raised `);
    expect(shown.stdout).toMatch(/by kid-1 \(student\)\n {2}acknowledged \S+ by doc-1 \(clinician\), [\d.]+ s after the raise\n {2}resolved \S+ by doc-1 \(clinician\): continued \(with a note, kept with the incident\)/);
    expect(shown.stdout).toContain('audit chain intact');
    expect(shown.stdout).not.toContain('school nurse');

    const json = JSON.parse((await admin(['incident-report', room, '--incident', incidentId, '--json', '--url', srv.url], env)).stdout);
    expect(json).toMatchObject({ room, incidentId, chain: { ok: true }, incidents: [{ incidentId, kind: 'medical', raisedBy: { identity: 'kid-1', role: 'student' }, resolved: { outcome: 'continued' } }] });
    expect(json.audit).toHaveLength(3);
    expect(json.records).toBeUndefined();

    const dir = scratch();
    const file = join(dir, 'report.json');
    const written = await admin(['incident-report', room, '--out', file, '--url', srv.url], env);
    expect(written.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(written.stdout).toContain(`written to ${file} (`);
    expect(written.stdout).toContain(`sha256 ${sha}, mode 0600)`);
    const report = JSON.parse(readFileSync(file, 'utf8'));
    expect(report.incidents).toHaveLength(1);
    expect(JSON.stringify(report)).not.toContain(TEST_LOCATION.description);
    const again = await admin(['incident-report', room, '--out', file, '--url', srv.url], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('OUTPUT_NOT_WRITTEN');

    const refused = await admin(['incident-report', room, '--with-records', '--url', srv.url], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('admin: USAGE: --with-records adds personal data');
    const full = join(dir, 'with-records.json');
    const withRecords = await admin(['incident-report', room, '--with-records', '--out', full, '--url', srv.url], env);
    expect(withRecords.code).toBe(0);
    expect(withRecords.stdout).not.toContain(TEST_LOCATION.description);
    expect(readFileSync(full, 'utf8')).toContain(TEST_LOCATION.description);
  });

  it('kick removes the participant and lists the revocation; close closes the room', async () => {
    const kicked = await admin(['kick', room, '--identity', 'kid-1', '--duration', '120', '--reason', 'ended by the clinic', '--url', srv.url], env);
    expect(kicked.code).toBe(0);
    expect(kicked.stdout).toMatch(/^kicked 1 participant from adm-room-1; identity kid-1 denied in that room until \S+Z\n$/);
    expect(await kid.waitFor('kicked')).toMatchObject({ reason: 'ended by the clinic' });
    const revs = await admin(['revocations', room, '--url', srv.url], env);
    expect(revs.stdout).toMatch(/kid-1\s+-\s+\S+Z\s+ended by the clinic/);
    const usage = await admin(['kick', room, '--url', srv.url], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('kick needs --identity or --token-id');
    const closed = await admin(['close', room, '--json', '--url', srv.url], env);
    expect(JSON.parse(closed.stdout)).toEqual({ closed: true });
    expect(await doc.waitFor('roomClosed')).toMatchObject({ reason: 'ADMIN_CLOSED' });
  });

  it("fails with the server's code: unknown room, wrong credential; SERVER_UNREACHABLE; a broken chain exits 1", async () => {
    const nf = await admin(['participants', 'no-such-room', '--json', '--url', srv.url], env);
    expect(nf.code).toBe(1);
    expect(JSON.parse(nf.stdout)).toEqual({ error: { code: 'NOT_FOUND', message: 'no such room on this node' } });
    expect(nf.stderr).toBe('admin: NOT_FOUND: no such room on this node\n');
    const wrong = 'wrong-admin-credential-0123456789';
    const denied = await admin(['rooms', '--url', srv.url], { ...env, SFU_ADMIN_TOKEN: wrong });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('admin: ADMIN_UNAUTHORIZED:');
    expect(denied.stderr + denied.stdout).not.toContain(wrong);
    const closedPort = await freePort();
    const down = await admin(['rooms', '--url', `http://127.0.0.1:${closedPort}`], env);
    expect(down.code).toBe(69);
    expect(down.stderr).toContain(`admin: SERVER_UNREACHABLE: cannot reach http://127.0.0.1:${closedPort}: ECONNREFUSED`);

    const db = new DatabaseSync(join(srv.dataDir, 'records.db'));
    db.exec("UPDATE audit SET detail = '{}' WHERE seq = 2");
    db.close();
    const broken = await admin(['verify', '--url', srv.url], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('admin: AUDIT_CHAIN_BROKEN: audit chain BROKEN at entry 2');
  });
});

describe('npm run admin finds the node and the credential as the server does', () => {
  it('from SFU_DATA_DIR/admin-token and SFU_HTTP_PORT, through npm run admin (JSON alone on stdout)', async () => {
    const dataDir = scratch();
    const port = await freePort();
    const config = { SFU_DATA_DIR: dataDir, SFU_HTTP_HOST: '127.0.0.1', SFU_HTTP_PORT: String(port) };
    const server = await startServerProcess({ ...config, SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'warn', SFU_ADMIN_TOKEN: undefined });
    try {
      expect(existsSync(join(dataDir, 'admin-token'))).toBe(true);
      const res = await admin(['rooms', '--json'], config, true);
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual({ rooms: [] });
      expect(res.stderr).toContain('[setup] ');
      expect(res.stdout + res.stderr).not.toContain(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
    } finally {
      await server.stop();
    }
  });

  it('refuses with ADMIN_TOKEN_NOT_FOUND (exit 78) when the data dir has no credential, and creates none', async () => {
    const dataDir = scratch();
    const res = await admin(['rooms'], { SFU_DATA_DIR: dataDir });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`admin: ADMIN_TOKEN_NOT_FOUND: no admin credential: ${join(dataDir, 'admin-token')} does not exist`);
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false);
  });
});
