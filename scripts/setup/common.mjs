// Helpers shared by the set-up steps. Node built-ins only: this runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const say = (msg) => process.stdout.write(`[setup] ${msg}\n`);

export function cacheDir() {
  if (process.env.SFU_CACHE_DIR) return process.env.SFU_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'telepractice-sfu');
}

/** Runs a command, inheriting output; throws with the command line when it fails. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = opts.quiet ? `\n${(r.stdout ?? '').toString().slice(-2000)}${(r.stderr ?? '').toString().slice(-2000)}` : '';
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}${out}`);
  }
  return r;
}

/** Output of a command, or undefined when it fails. */
export function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

let aptUpdated = false;
/** apt-get install of the packages not installed yet (apt-get update once first). */
export function aptInstall(packages, why) {
  const missing = packages.filter((p) => output('dpkg-query', ['-W', '-f=${Status}', p]) !== 'install ok installed');
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new Error(`${why} needs these Debian packages: ${missing.join(' ')}\n  run: sudo apt-get install -y ${missing.join(' ')}`);
  }
  if (!aptUpdated) {
    say('apt-get update');
    run('apt-get', ['update', '-q'], { quiet: true });
    aptUpdated = true;
  }
  say(`apt-get install ${missing.join(' ')} (${why})`);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { quiet: true, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
