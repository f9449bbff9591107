// Helpers shared by the set-up steps. Node built-ins only: this runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

let sayStream = process.stdout;
/** One `[setup]` line; on stderr once sayOnStderr() was called (tasks whose stdout is data: token, admin). */
export const say = (msg) => sayStream.write(`[setup] ${msg}\n`);
export const sayOnStderr = () => { sayStream = process.stderr; };
/** The file descriptor for a set-up command's own output: where the [setup] lines go. */
export const setupFd = () => (sayStream === process.stderr ? 2 : 1);

/** $SFU_CACHE_DIR, else $XDG_CACHE_HOME/telepractice-sfu, else ~/.cache/telepractice-sfu. */
export function cacheDir() {
  if (process.env.SFU_CACHE_DIR) return process.env.SFU_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'telepractice-sfu');
}

/** Runs a command (output shown, or captured with quiet); throws with the command line when it fails. */
export function run(cmd, args, opts = {}) {
  const { quiet, ...rest } = opts;
  const r = spawnSync(cmd, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', maxBuffer: 64 << 20, ...rest });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = quiet ? `\n${String(r.stdout ?? '').slice(-2000)}${String(r.stderr ?? '').slice(-2000)}` : '';
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}${out}`);
  }
  return r;
}

/** Runs a long command with its output appended to a log file; on failure, throws with the log's tail. */
export function runLogged(cmd, args, log, opts = {}) {
  const fd = openSync(log, 'a');
  let r;
  try {
    r = spawnSync(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
  } finally {
    closeSync(fd);
  }
  if (r.error || r.status !== 0) {
    const tail = readFileSync(log, 'utf8').slice(-3000);
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? r.status ?? r.signal}); full log: ${log}\n${tail}`);
  }
}

/** Output of a command, or undefined when it fails. */
export function output(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export const installed = (pkg) => output('dpkg-query', ['-W', '-f=${Status}', pkg]) === 'install ok installed';

let aptUpdated = false;
/** apt-get update, once per run. */
export function aptUpdate() {
  if (aptUpdated) return;
  say('apt-get update');
  run('apt-get', ['update', '-q'], { quiet: true });
  aptUpdated = true;
}

/** apt-get install of the packages not installed yet (apt-get update once first). */
export function aptInstall(packages, why) {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new Error(`${why} needs these Debian packages: ${missing.join(' ')}\n  run: sudo apt-get install -y ${missing.join(' ')}`);
  }
  aptUpdate();
  say(`apt-get install ${missing.join(' ')} (${why})`);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    quiet: true,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
