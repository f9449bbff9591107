import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Debian's podman as these machines run it (../shared/notes/containers.md): the runc runtime (crun
 * fails with "cgroups in hybrid mode not supported"), podman's default ulimits dropped through a
 * containers.conf (the sandbox cannot raise RLIMIT_NOFILE/NPROC), host networking only.
 */

/** $SFU_CACHE_DIR, else $XDG_CACHE_HOME/telepractice-sfu, else ~/.cache/telepractice-sfu (scripts/setup/common.mjs). */
export function cacheDir(): string {
  if (process.env.SFU_CACHE_DIR) return process.env.SFU_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'telepractice-sfu');
}

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/**
 * Runs a command to its end, killed (SIGKILL) after `timeoutMs`; never throws for an exit code.
 * Output is kept (the last 1 MiB of each stream).
 */
export function runBounded(cmd: string, args: readonly string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const keep = (s: string) => (s.length > 1 << 20 ? s.slice(-(1 << 20)) : s);
    child.stdout.on('data', (c: Buffer) => { stdout = keep(stdout + c.toString()); });
    child.stderr.on('data', (c: Buffer) => { stderr = keep(stderr + c.toString()); });
    const timer = setTimeout(() => {
      stderr += `\n[test] ${cmd} ${args[0] ?? ''} killed after ${opts.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => { stderr += `\n${err.message}`; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The containers.conf that drops podman's default ulimits, written once into the cache (atomically). */
function containersConf(): string {
  const dir = join(cacheDir(), 'containers');
  const file = join(dir, 'containers.conf');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, '[containers]\ndefault_ulimits = []\n');
    renameSync(tmp, file);
  }
  return file;
}

const PACKAGES = [['podman', '/usr/bin/podman'], ['runc', '/usr/sbin/runc'], ['debootstrap', '/usr/sbin/debootstrap']] as const;

/**
 * podman, runc and debootstrap, installed with apt-get when missing (said on the console). Throws
 * when they cannot be had: a suite that asked for the container test must fail, not skip.
 */
export function ensurePodman(): void {
  const missing = PACKAGES.filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`the container test needs ${missing.join(', ')} (apt-get install -y ${missing.join(' ')}); this is not root, so they cannot be installed`);
  console.info(`[test] installing Debian's ${missing.join(' ')} with apt-get for the container image test`);
  const apt = (args: string[]) => spawnSync('apt-get', args, { encoding: 'utf8', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let r = apt(['install', '-y', '-q', '--no-install-recommends', ...missing]);
  if (r.status !== 0) {
    apt(['update', '-q']);
    r = apt(['install', '-y', '-q', '--no-install-recommends', ...missing]);
  }
  const still = PACKAGES.filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
  if (still.length > 0) throw new Error(`apt-get could not install ${still.join(' ')}:\n${(r.stderr || r.stdout || r.error?.message || '').trim().split('\n').slice(-6).join('\n')}`);
}

/** `podman --runtime runc <args>` with the ulimits dropped; bounded in time. */
export function podman(args: readonly string[], timeoutMs: number): Promise<Run> {
  return runBounded('podman', ['--runtime', 'runc', ...args], { timeoutMs, env: { ...process.env, CONTAINERS_CONF: containersConf() } });
}

/** Like podman(), but throws with the command's output when it fails. */
export async function podmanOk(args: readonly string[], timeoutMs: number): Promise<Run> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args.slice(0, 2).join(' ')} failed (${r.code ?? r.signal}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}
