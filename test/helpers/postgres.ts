import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

export interface TestPostgres {
  /** postgres://postgres:<random password>@127.0.0.1:<port>/sfu_test */
  readonly url: string;
  stop(): void;
  /**
   * A hung server: SIGSTOP to the postmaster and every backend it has now. Returns the resume
   * (SIGCONT to the same processes; idempotent, and also run by stop()).
   */
  hang(): () => void;
  /** `pg_ctl stop -m fast`: the server is down (connections refused) until start(). */
  shutdown(): void;
  /** Starts the server again after shutdown(), on the same port. */
  start(): void;
  /** start() without blocking this process while pg_ctl waits for the server (timers and watchers here keep running). */
  startInBackground(): Promise<void>;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

function loud(msg: string): undefined {
  console.warn(`\n${'!'.repeat(78)}\n!! The PostgreSQL store adapter suite is SKIPPED.\n!! ${msg.split('\n').join('\n!! ')}\n${'!'.repeat(78)}\n`);
  return undefined;
}

function lastLines(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

/** apt-get, saying what it runs; on failure, why. */
function apt(args: string[]): { ok: boolean; why: string } {
  console.info(`[test] running: apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const ok = r.status === 0;
  const why = r.error ? r.error.message : lastLines(r.stderr || r.stdout || '', 4);
  console.info(`[test] apt-get ${args[0]}: ${ok ? 'done' : `failed (${why})`}`);
  return { ok, why };
}

/** Debian's server package, when missing and running as root: install, and only if that fails, update first. */
function installPostgres(): string | undefined {
  console.info('[test] PostgreSQL is not installed; installing Debian\'s postgresql package for the PostgreSQL store suite');
  const install = ['install', '-y', '-q', '--no-install-recommends', 'postgresql'];
  let r = apt(install);
  if (!r.ok) {
    const u = apt(['update', '-q']);
    if (u.ok) r = apt(install);
  }
  return r.ok ? undefined : r.why;
}

/**
 * A real throwaway PostgreSQL on 127.0.0.1 only (Debian's server binaries; installed with apt-get
 * when missing and running as root). As root it runs as the `postgres` system user (PostgreSQL
 * refuses root) in a 0700 temp dir that user owns. TCP needs the random password in `url`; the
 * unix socket lives in the private dir. Returns undefined, after a loud warning, when it cannot.
 */
export async function startPostgres(): Promise<TestPostgres | undefined> {
  const root = process.getuid?.() === 0;
  let bin = binDir();
  if (!bin && root) {
    const why = installPostgres();
    bin = binDir();
    if (!bin) return loud(`PostgreSQL could not be installed with apt-get${why ? `:\n${why}` : '.'}`);
  }
  if (!bin) return loud('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and this is not root, so it cannot be installed.\nInstall it (apt-get install postgresql) to run this suite.');

  const dir = mkdtempSync(join(tmpdir(), 'sfu-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'log');
  const password = randomBytes(18).toString('base64url');
  /** The command line of a server binary (as the `postgres` user when root). */
  const argv = (cmd: string, args: string[]): [string, string[]] => {
    const full = join(bin!, cmd);
    return root ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
  };
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(...argv(cmd, args), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.error?.message ?? lastLines(r.stderr || r.stdout || '')}`);
  };
  const runInBackground = (cmd: string, args: string[]) => new Promise<void>((resolve, reject) => {
    const child = spawn(...argv(cmd, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${lastLines(out) || `exit ${code}`}`))));
  });
  let started = false;
  let resumeHung: (() => void) | undefined;
  const stopServer = () => {
    resumeHung?.();
    if (!started) return;
    started = false;
    try {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
    } catch (err) {
      console.warn(`[test] ${(err as Error).message}`);
    }
  };
  const cleanup = () => {
    stopServer();
    rmSync(dir, { recursive: true, force: true });
  };
  // If afterAll never runs (the worker dies), still stop the server: no postgres outlives the tests.
  process.once('exit', cleanup);

  try {
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    run('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--no-instructions',
      '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`]);
    rmSync(pwfile);
    const port = await freePort();
    // listen_addresses is the only TCP address; the unix socket is in the private temp dir.
    const startArgs = ['-D', data, '-l', log, '-w', '-t', '30', 'start', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=on`];
    const startServer = () => {
      started = true;
      run('pg_ctl', startArgs);
    };
    startServer();
    run('createdb', ['-h', dir, '-p', String(port), '-U', 'postgres', 'sfu_test']);
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/sfu_test`,
      stop() {
        process.removeListener('exit', cleanup);
        cleanup();
      },
      hang() {
        const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
        const pids = [postmaster, ...children];
        for (const pid of pids) process.kill(pid, 'SIGSTOP');
        const resume = () => {
          if (resumeHung !== resume) return;
          resumeHung = undefined;
          for (const pid of pids) {
            try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
          }
        };
        resumeHung = resume;
        return resume;
      },
      shutdown() {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
        started = false;
      },
      start: startServer,
      startInBackground() {
        started = true;
        return runInBackground('pg_ctl', startArgs);
      },
    };
  } catch (err) {
    const serverLog = existsSync(log) ? `\nserver log:\n${lastLines(readFileSync(log, 'utf8'))}` : '';
    process.removeListener('exit', cleanup);
    cleanup();
    return loud(`PostgreSQL could not be started: ${(err as Error).message}${serverLog}`);
  }
}
