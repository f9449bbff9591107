import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { ensureDebianPackage, skipLoudly } from './debian-package.ts';

export interface TestRedis {
  /** redis://:<random password>@127.0.0.1:<port> */
  readonly url: string;
  readonly password: string;
  /** A hung server: SIGSTOP. Returns the resume (SIGCONT; idempotent, also run by stop()). */
  hang(): () => void;
  /** SIGTERM, resolved once the server has exited: connections are refused until start(). */
  shutdown(): Promise<void>;
  /** Starts the server again after shutdown(), on the same port; resolved once it accepts connections. */
  start(): Promise<void>;
  stop(): void;
}

const BIN = '/usr/bin/redis-server';

const SUITE = 'The Redis cluster tests';

/**
 * A real throwaway redis-server on 127.0.0.1 only, no persistence (no RDB, no AOF; its dir is a temp
 * dir), with a random password; a child of this process, stopped after. Installed with apt-get when
 * missing and running as root. Returns undefined, after a loud warning, when it cannot.
 */
export async function startRedis(): Promise<TestRedis | undefined> {
  if (!ensureDebianPackage('redis-server', BIN, SUITE)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sfu-redis-'));
  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  let child: ChildProcess | undefined;
  let resumeHung: (() => void) | undefined;

  const start = () => new Promise<void>((resolve, reject) => {
    // The password goes in on stdin (a config file read from "-"), never on a command line that ps shows.
    const c = spawn(BIN, ['-'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start in time:\n${out}`)), 10_000);
    c.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) { clearTimeout(t); resolve(); }
    });
    c.stderr!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    c.once('exit', (code, signal) => { clearTimeout(t); reject(new Error(`redis-server exited (${code ?? signal}):\n${out}`)); });
    c.stdin!.end([
      'bind 127.0.0.1', `port ${port}`, `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no',
      'protected-mode yes', `requirepass ${password}`, 'loglevel notice', 'logfile ""',
    ].join('\n') + '\n');
  });
  const shutdown = async () => {
    resumeHung?.();
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await exited;
  };
  const cleanup = () => {
    resumeHung?.();
    child?.kill('SIGKILL');
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  try {
    await start();
  } catch (err) {
    process.removeListener('exit', cleanup);
    cleanup();
    return skipLoudly(SUITE, `redis-server could not be started: ${(err as Error).message}`);
  }
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    password,
    hang() {
      const pid = child!.pid!;
      process.kill(pid, 'SIGSTOP');
      const resume = () => {
        if (resumeHung !== resume) return;
        resumeHung = undefined;
        try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
      };
      resumeHung = resume;
      return resume;
    },
    shutdown,
    start,
    stop() {
      process.removeListener('exit', cleanup);
      cleanup();
    },
  };
}
