import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { withLock } from '../../scripts/setup/lock.mjs';
import { cacheDir, podman, podmanOk, runBounded } from './podman.ts';

/**
 * A stand-in for node:24-bookworm-slim where no image registry is reachable
 * (../shared/notes/containers.md): Debian 12 from `debootstrap --variant=minbase` plus the Node 24
 * that runs the tests, imported into podman. Only what the image's runtime and prebuilt stages use
 * (apt-get, node; no npm, which the prebuilt build does not run). The rootfs tarball is cached under
 * <cache>/container-base/ (built once, under the set-up lock of scripts/setup/lock.mjs, renamed into place); the image is imported
 * under a name of its own, never over a real node:24-bookworm-slim, and the Dockerfile is pointed at
 * it with --build-arg BASE_IMAGE.
 */
const KEY = `bookworm-minbase-node-${process.versions.node}`;
export const STAND_IN_BASE = `localhost/telepractice-sfu-stand-in-base:${KEY}`;

const dir = () => join(cacheDir(), 'container-base');
const tarball = () => join(dir(), `${KEY}.tar`);

/** The Debian archive this machine's apt uses (deb822 `URIs:` or a one-line `deb` entry), else deb.debian.org. */
function debianMirror(): string {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f)) : [])];
  for (const f of files) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    const uri = /^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+\/debian)\/?\s*$/m.exec(text)?.[1]
      ?? /^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+\/debian)\/?\s/m.exec(text)?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

/** Mount points under `root`, deepest first. */
const mountsUnder = (root: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
  .filter((m) => m.startsWith(`${root}/`)).sort((a, b) => b.length - a.length);

/**
 * Unmounts whatever debootstrap left mounted under `root` (a failed run: proc, sys), deepest first,
 * then removes it; never removes a tree that still has a mount in it (a warning says so instead).
 */
function removeTree(root: string): void {
  for (const m of mountsUnder(root)) spawnSync('umount', ['-l', m], { timeout: 10_000 });
  const left = mountsUnder(root);
  if (left.length > 0) {
    console.warn(`[test] left ${root} in place: ${left.length} mounts are still under it; remove it by hand`);
    return;
  }
  rmSync(root, { recursive: true, force: true });
}

/** Builds the rootfs tarball (debootstrap, then node), unless cached. Returns its path. */
async function ensureTarball(log: (s: string) => void): Promise<string> {
  if (existsSync(tarball())) return tarball();
  // Not `${KEY}.lock`: that name was the directory lock this replaced, which a crashed older run may have left.
  return withLock(dir(), `${KEY}-build`, 'the stand-in base image rootfs (test)', () => buildTarball(log), { timeoutMs: 15 * 60_000 });
}

/** Under the lock: builds the tarball unless a run that held the lock before did. */
async function buildTarball(log: (s: string) => void): Promise<string> {
  if (existsSync(tarball())) return tarball();
  const tmp = mkdtempSync(join(dir(), '.build-'));
  try {
    const rootfs = join(tmp, 'rootfs');
    const mirror = debianMirror();
    log(`[test] building the stand-in base image: debootstrap --variant=minbase bookworm (${mirror}) + Node ${process.versions.node}`);
    const boot = await runBounded('debootstrap', ['--variant=minbase', 'bookworm', rootfs, mirror], { timeoutMs: 10 * 60_000 });
    if (boot.code !== 0) throw new Error(`debootstrap failed (${boot.code ?? boot.signal}):\n${boot.stdout.slice(-2000)}\n${boot.stderr.slice(-2000)}`);
    mkdirSync(join(rootfs, 'usr/local/bin'), { recursive: true });
    copyFileSync(process.execPath, join(rootfs, 'usr/local/bin/node'));
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    const out = join(tmp, 'base.tar');
    const tar = await runBounded('tar', ['--numeric-owner', '-C', rootfs, '-cf', out, '.'], { timeoutMs: 5 * 60_000 });
    if (tar.code !== 0) throw new Error(`tar failed: ${tar.stderr.slice(-2000)}`);
    renameSync(out, tarball());
    log(`[test] cached the stand-in base rootfs: ${tarball()}`);
  } finally {
    removeTree(tmp);
  }
  return tarball();
}

/** The stand-in base image's name, imported into podman from the cached tarball when not there yet. */
export async function ensureStandInBase(log: (s: string) => void = console.info): Promise<string> {
  if ((await podman(['image', 'exists', STAND_IN_BASE], 30_000)).code === 0) return STAND_IN_BASE;
  const tar = await ensureTarball(log);
  await podmanOk([
    'import',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--change', 'CMD ["node"]',
    tar, STAND_IN_BASE,
  ], 5 * 60_000);
  log(`[test] imported ${STAND_IN_BASE}`);
  return STAND_IN_BASE;
}
