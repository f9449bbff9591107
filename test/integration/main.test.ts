import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/verifier.ts';
import { resolveMediaAddress } from '../../src/media/address.ts';

/** Runs the real entry point (what `npm start` hands over to) on free ports. */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no demo links in time:\n${out}`)), 20_000);
    child.stdout.on('data', () => {
      if (out.includes('student:')) { clearTimeout(t); resolve(out); }
    });
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { child, ready, exited, output: () => out };
}

describe('src/main.ts (npm start)', () => {
  it('starts on embedded defaults, generates a secret, prints working demo links, drains on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-main-'));
    try {
      const main = startMain({ SFU_DATA_DIR: dataDir, SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'warn', SFU_DRAIN_TIMEOUT_SECONDS: '1' });
      const text = await main.ready;
      const base = /listening on (http:\/\/\S+)/.exec(text)![1]!;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // The banner names the media address: the development default (src/media/address.ts) unless configured.
      const media = resolveMediaAddress('0.0.0.0', '');
      expect(text).toContain(`media: UDP/TCP ports picked by the OS on ${media.listenIp}, announced to browsers as ${media.announcedIp}`);
      if (media.warning) expect(text).toContain(`WARNING: ${media.warning}`);

      const secretFile = join(dataDir, 'jwt-secret');
      expect(statSync(secretFile).mode & 0o777).toBe(0o600);
      const secret = readFileSync(secretFile, 'utf8').trim();
      expect(text).not.toContain(secret);
      const links = [...text.matchAll(/(clinician|student):\s+(\S+#token=([^&\s]+)&policy=2026-09)/g)];
      expect(links.map((m) => m[1])).toEqual(['clinician', 'student']);
      const verifier = new TokenVerifier({ key: secret, algorithms: ['HS256'] });
      expect(verifier.verify(links[0]![3]!, 'demo').role).toBe('clinician');
      expect(verifier.verify(links[1]![3]!, 'demo').role).toBe('student');
      // A desk link for every room, built like the demo links (src/auth/page-links.ts).
      const desk = /desk:\s+(\S+)\/desk\.html#token=(\S+)/.exec(text)!;
      expect(desk[1]).toBe(base);
      expect(verifier.verifyDesk(desk[2]!)).toMatchObject({ identity: 'demo-desk', rooms: '*' });
      // The built-in tiers name webhooks nobody configured: one WARNING line in the banner.
      expect(text).toContain('WARNING: escalation tiers name targets that are not configured, so escalating to them reaches nobody (tier 1: webhook:primary; tier 2: webhook:secondary)');

      main.child.kill('SIGTERM');
      expect(await main.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a bad configuration with a clear message and exit code 78', async () => {
    const main = startMain({ SFU_HTTP_PORT: 'eighty' });
    main.ready.catch(() => undefined);
    expect(await main.exited).toBe(78);
    expect(main.output()).toContain('SFU_HTTP_PORT must be an integer');
  });

  it('refuses an unreadable token public key with exit code 78 too', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-main-key-'));
    try {
      const main = startMain({ SFU_DATA_DIR: dataDir, SFU_JWT_PUBLIC_KEY: '/nonexistent/key.pem', SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1' });
      main.ready.catch(() => undefined);
      expect(await main.exited).toBe(78);
      expect(main.output()).toContain('jwt.publicKey: cannot read /nonexistent/key.pem');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a data dir it cannot write with DATA_DIR_UNWRITABLE and exit code 78, before any worker starts, without a stack trace', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'sfu-main-datadir-'));
    // A read-only volume (EROFS) where a tmpfs can be mounted (root), and a path under a file (ENOTDIR) everywhere.
    const readOnly = join(parent, 'ro');
    mkdirSync(readOnly);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]).status === 0;
    writeFileSync(join(parent, 'a-file'), '');
    const cases = [{ dir: join(parent, 'a-file', 'data'), errno: 'ENOTDIR' }, ...(mounted ? [{ dir: readOnly, errno: 'EROFS' }] : [])];
    try {
      for (const { dir, errno } of cases) {
        const main = startMain({ SFU_DATA_DIR: dir, SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'info' });
        main.ready.catch(() => undefined);
        expect(await main.exited, errno).toBe(78);
        const out = main.output();
        expect(out).toContain('invalid configuration (DATA_DIR_UNWRITABLE):');
        expect(out).toContain(`dataDir (SFU_DATA_DIR) ${dir} cannot be written (${errno})`);
        expect(out).not.toContain('mediasoup worker started');
        expect(out).not.toMatch(/\bat \S+ \(|"stack"/);
      }
    } finally {
      if (mounted) spawnSync('umount', ['-l', readOnly]);
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
