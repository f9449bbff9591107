import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A loud warning that a suite is skipped, and why; returns undefined (what a helper that could not start returns). */
export function skipLoudly(suite: string, msg: string): undefined {
  console.warn(`\n${'!'.repeat(78)}\n!! ${suite} are SKIPPED.\n!! ${msg.split('\n').join('\n!! ')}\n${'!'.repeat(78)}\n`);
  return undefined;
}

/** Debian's `pkg`, when missing and running as root: install, and only if that fails, update first. Returns why it failed. */
function aptInstall(pkg: string): string | undefined {
  const run = (args: string[]) => {
    console.info(`[test] running: apt-get ${args.join(' ')}`);
    const r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return { ok: r.status === 0, why: r.error?.message ?? (r.stderr || r.stdout || '').trim().split('\n').slice(-4).join('\n') };
  };
  const install = ['install', '-y', '-q', '--no-install-recommends', pkg];
  let r = run(install);
  if (!r.ok && run(['update', '-q']).ok) r = run(install);
  return r.ok ? undefined : r.why;
}

/**
 * Whether `bin` exists, installing Debian's `pkg` with apt-get first when it is missing and this
 * is root. When it cannot be had, warns loudly that `suite` is skipped and returns false.
 */
export function ensureDebianPackage(pkg: string, bin: string, suite: string): boolean {
  if (existsSync(bin)) return true;
  if (process.getuid?.() !== 0) {
    skipLoudly(suite, `${bin} is not installed and this is not root, so it cannot be installed.\nInstall it (apt-get install ${pkg}) to run these tests.`);
    return false;
  }
  console.info(`[test] ${bin} is not installed; installing Debian's ${pkg} package for ${suite}`);
  const why = aptInstall(pkg);
  if (existsSync(bin)) return true;
  skipLoudly(suite, `${pkg} could not be installed with apt-get${why ? `:\n${why}` : '.'}`);
  return false;
}
