// Offline build of the mediasoup 3.12.16 worker against Debian 12's libraries, exactly as in
// shared/notes/mediasoup-worker-offline.md: meson shims for the distribution's libraries, and
// libsrtp 2.5.0 built from its upstream tarball (taken from Debian's source package) with OpenSSL.
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall, cacheDir, isRoot, run, runLogged, say } from './common.mjs';
import { SHIMS } from './worker-shims.mjs';

export const SRTP_SHA256 = '8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09';
const BUILD_PACKAGES = ['meson', 'ninja-build', 'pkg-config', 'g++', 'libssl-dev', 'libuv1-dev', 'libusrsctp-dev', 'libabsl-dev', 'nlohmann-json3-dev'];
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The archive (and its key) this machine already uses for bookworm, for the deb-src entry. */
function debianArchive() {
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources')).map((f) => join(dir, f)) : [];
  for (const file of files) {
    for (const stanza of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/);
      if (field('Types')?.includes('deb') && field('Suites')?.includes('bookworm') && field('URIs')) {
        return { uri: field('URIs')[0], key: field('Signed-By')?.[0] };
      }
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(list);
  return { uri: line?.[1] ?? 'http://deb.debian.org/debian', key: undefined };
}

/** libsrtp2_2.5.0.orig.tar.gz (the exact tarball mediasoup's wrap names), via apt-get source; cached. */
function srtpTarball() {
  const cached = join(cacheDir(), 'mediasoup-worker', 'libsrtp-2.5.0.tar.gz');
  if (existsSync(cached) && sha256(cached) === SRTP_SHA256) return cached;
  const { uri, key } = debianArchive();
  const list = '/etc/apt/sources.list.d/telepractice-sfu-deb-src.sources';
  const signedBy = key ?? (existsSync('/usr/share/keyrings/debian-archive-keyring.gpg') ? '/usr/share/keyrings/debian-archive-keyring.gpg' : undefined);
  writeFileSync(list, `Types: deb-src\nURIs: ${uri}\nSuites: bookworm\nComponents: main\n${signedBy ? `Signed-By: ${signedBy}\n` : ''}`);
  const tmp = mkdtempSync(join(tmpdir(), 'sfu-srtp-'));
  try {
    say(`apt-get update (deb-src bookworm from ${uri}) + apt-get source --download-only libsrtp2`);
    run('apt-get', ['update', '-q', '-o', `Dir::Etc::sourcelist=${list}`, '-o', 'Dir::Etc::sourceparts=-', '-o', 'APT::Get::List-Cleanup=0'], { quiet: true });
    run('apt-get', ['source', '--download-only', '-q', 'libsrtp2'], { quiet: true, cwd: tmp });
    const tarball = join(tmp, 'libsrtp2_2.5.0.orig.tar.gz');
    if (!existsSync(tarball)) throw new Error('apt-get source libsrtp2 gave no libsrtp2_2.5.0.orig.tar.gz (is this Debian 12?)');
    const sha = sha256(tarball);
    if (sha !== SRTP_SHA256) throw new Error(`libsrtp2_2.5.0.orig.tar.gz has sha256 ${sha}, the wrap expects ${SRTP_SHA256}`);
    mkdirSync(join(cached, '..'), { recursive: true });
    copyFileSync(tarball, `${cached}.tmp`);
    renameSync(`${cached}.tmp`, cached);
    return cached;
  } finally {
    rmSync(list, { force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds mediasoup-worker in a scratch directory; returns its path and a cleanup function. */
export function buildOffline(root, log) {
  if (!isRoot()) throw new Error('the offline worker build installs Debian packages: run as root once, or set MEDIASOUP_WORKER_BIN');
  aptInstall(BUILD_PACKAGES, 'building the mediasoup worker');
  const src = join(root, 'node_modules', 'mediasoup', 'worker');
  const work = mkdtempSync(join(tmpdir(), 'sfu-worker-build-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  try {
    cpSync(src, work, { recursive: true, filter: (p) => p !== join(src, 'out') });
    // Debian 12's meson is 1.0.1; nothing the worker's meson.build uses needs 1.1.
    const mesonFile = join(work, 'meson.build');
    const text = readFileSync(mesonFile, 'utf8');
    if (!text.includes("meson_version: '>= 1.1.0'")) throw new Error("worker/meson.build: meson_version line not found");
    writeFileSync(mesonFile, text.replace("meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'"));
    say(`subproject shims for Debian's openssl, libuv, usrsctp, abseil, nlohmann-json`);
    for (const [dir, files] of Object.entries(SHIMS)) {
      mkdirSync(join(work, 'subprojects', dir), { recursive: true });
      for (const [name, content] of Object.entries(files)) writeFileSync(join(work, 'subprojects', dir, name), content);
    }
    mkdirSync(join(work, 'subprojects', 'packagecache'), { recursive: true });
    copyFileSync(srtpTarball(), join(work, 'subprojects', 'packagecache', 'libsrtp-2.5.0.tar.gz'));
    say(`meson setup + ninja mediasoup-worker (about 5 minutes on 2 cores; log: ${log})`);
    const started = Date.now();
    mkdirSync(join(log, '..'), { recursive: true });
    writeFileSync(log, '');
    runLogged('meson', ['setup', '--buildtype', 'release', '-Db_ndebug=true', '-Db_pie=true', '-Db_staticpic=true', 'out'], log, { cwd: work });
    runLogged('ninja', ['-C', 'out', 'mediasoup-worker'], log, { cwd: work });
    say(`worker built in ${Math.round((Date.now() - started) / 1000)} s`);
    return { binary: join(work, 'out', 'mediasoup-worker'), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
