// The mediasoup 3.12.16 worker: MEDIASOUP_WORKER_BIN, else the cache, else mediasoup's prebuilt
// download, else an offline build against Debian 12's libraries (shared/notes: mediasoup-worker-offline).
import { createHash } from 'node:crypto';
import { accessSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall, cacheDir, isRoot, output, run, say } from './common.mjs';
import { SHIMS } from './worker-shims.mjs';

export const MEDIASOUP_VERSION = '3.12.16';
const BUILD_PACKAGES = ['meson', 'ninja-build', 'pkg-config', 'g++', 'libssl-dev', 'libuv1-dev', 'libusrsctp-dev', 'libabsl-dev', 'nlohmann-json3-dev'];
const KEY_PACKAGES = ['libssl-dev', 'libuv1-dev', 'libusrsctp-dev', 'libabsl-dev'];
const SRTP_SHA256 = '8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09';
const PREBUILT_URL = `https://github.com/versatica/mediasoup/releases/download/${MEDIASOUP_VERSION}/mediasoup-worker-${MEDIASOUP_VERSION}-linux-x64-kernel6.tgz`;

const executable = (p) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };

/** Cache key: mediasoup's version plus the Debian versions of the libraries the worker links. */
function cacheKey() {
  const versions = KEY_PACKAGES.map((p) => `${p}=${output('dpkg-query', ['-W', '-f=${Version}', p]) ?? 'none'}`);
  return createHash('sha256').update([MEDIASOUP_VERSION, SRTP_SHA256, ...versions].join('\n')).digest('hex').slice(0, 12);
}

function install(binary, cachedBin) {
  mkdirSync(join(cachedBin, '..'), { recursive: true });
  const tmp = `${cachedBin}.tmp-${process.pid}`;
  copyFileSync(binary, tmp);
  run('chmod', ['755', tmp]);
  renameSync(tmp, cachedBin);
}

/** A downloaded binary is usable when every shared library it needs resolves here. */
function looksRunnable(bin) {
  const r = output('ldd', [bin]);
  return r !== undefined && !r.includes('not found');
}

async function tryPrebuilt(cachedBin) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 8000);
  try {
    const res = await fetch(PREBUILT_URL, { signal: ctl.signal });
    if (!res.ok) return false;
    const tmp = mkdtempSync(join(tmpdir(), 'sfu-prebuilt-'));
    try {
      writeFileSync(join(tmp, 'w.tgz'), Buffer.from(await res.arrayBuffer()));
      run('tar', ['-xzf', join(tmp, 'w.tgz'), '-C', tmp]);
      const found = readdirSync(tmp, { recursive: true }).map(String).find((f) => f.endsWith('mediasoup-worker'));
      if (!found || !looksRunnable(join(tmp, found))) return false;
      install(join(tmp, found), cachedBin);
      return true;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** libsrtp's exact upstream tarball, from Debian's source package (built with OpenSSL, not NSS). */
function fetchSrtpTarball(dest) {
  const list = '/etc/apt/sources.list.d/telepractice-sfu-deb-src.sources';
  const tmp = mkdtempSync(join(tmpdir(), 'sfu-srtp-'));
  try {
    writeFileSync(list, 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n');
    say('apt-get source --download-only libsrtp2 (libsrtp 2.5.0 source, to build it against OpenSSL)');
    run('apt-get', ['update', '-q', '-o', `Dir::Etc::sourcelist=${list}`, '-o', 'Dir::Etc::sourceparts=-', '-o', 'APT::Get::List-Cleanup=0'], { quiet: true });
    run('apt-get', ['source', '--download-only', '-q', 'libsrtp2'], { quiet: true, cwd: tmp });
    const tarball = join(tmp, 'libsrtp2_2.5.0.orig.tar.gz');
    const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
    if (sha !== SRTP_SHA256) throw new Error(`libsrtp2_2.5.0.orig.tar.gz has sha256 ${sha}, expected ${SRTP_SHA256}`);
    copyFileSync(tarball, dest);
  } finally {
    rmSync(list, { force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

function buildOffline(root, cachedBin) {
  if (!isRoot()) throw new Error('the offline worker build installs Debian packages: run as root once, or set MEDIASOUP_WORKER_BIN');
  aptInstall(BUILD_PACKAGES, 'building the mediasoup worker');
  const src = join(root, 'node_modules', 'mediasoup', 'worker');
  const work = mkdtempSync(join(tmpdir(), 'sfu-worker-build-'));
  try {
    cpSync(src, work, { recursive: true, filter: (p) => !p.includes(`${join(src, 'out')}`) });
    const mesonFile = join(work, 'meson.build');
    // Debian 12's meson is 1.0.1; nothing the worker uses needs 1.1.
    writeFileSync(mesonFile, readFileSync(mesonFile, 'utf8').replace("meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'"));
    for (const [dir, files] of Object.entries(SHIMS)) {
      mkdirSync(join(work, 'subprojects', dir), { recursive: true });
      for (const [name, text] of Object.entries(files)) writeFileSync(join(work, 'subprojects', dir, name), text);
    }
    mkdirSync(join(work, 'subprojects', 'packagecache'), { recursive: true });
    fetchSrtpTarball(join(work, 'subprojects', 'packagecache', 'libsrtp-2.5.0.tar.gz'));
    say('meson setup + ninja mediasoup-worker (about 5 minutes on 2 cores)');
    const started = Date.now();
    run('meson', ['setup', '--buildtype', 'release', '-Db_ndebug=true', '-Db_pie=true', '-Db_staticpic=true', 'out'], { cwd: work, quiet: true });
    run('ninja', ['-C', 'out', 'mediasoup-worker'], { cwd: work, quiet: true });
    install(join(work, 'out', 'mediasoup-worker'), cachedBin);
    say(`worker built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Returns the path of a mediasoup-worker binary, setting it up when needed. */
export async function ensureWorker(root) {
  const given = process.env.MEDIASOUP_WORKER_BIN;
  if (given) {
    if (!executable(given)) throw new Error(`MEDIASOUP_WORKER_BIN=${given} is not an executable file`);
    return given;
  }
  const cachedBin = join(cacheDir(), 'mediasoup-worker', `${MEDIASOUP_VERSION}-${cacheKey()}`, 'mediasoup-worker');
  if (executable(cachedBin)) {
    say(`mediasoup worker ${MEDIASOUP_VERSION}: cached (${cachedBin})`);
    return cachedBin;
  }
  say(`mediasoup worker ${MEDIASOUP_VERSION}: trying mediasoup's prebuilt download`);
  if (await tryPrebuilt(cachedBin)) {
    say(`mediasoup worker ${MEDIASOUP_VERSION}: prebuilt download installed into ${cachedBin}`);
    return cachedBin;
  }
  say('prebuilt download unavailable: offline build against Debian\'s libraries');
  buildOffline(root, cachedBin);
  say(`mediasoup worker ${MEDIASOUP_VERSION}: offline build installed into ${cachedBin}`);
  return cachedBin;
}
