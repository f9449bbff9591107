// Upstream source tarballs for the offline mediasoup 3.27 worker build, taken from Debian *source*
// packages (no binaries from newer suites) and cached under $SFU_CACHE_DIR/mediasoup-worker/sources/:
//   libsrtp 2.7.0 (trixie)     : stands in for mediasoup's libsrtp 3 fork (with the compat header)
//   flatbuffers 23.5.26 (trixie): flatc + headers from one tree (the generated code checks they match)
//   unordered_dense.h (sid)    : header only, vendored in rspamd's source (no Debian package of its own)
// Facts: shared/notes/mediasoup-327-offline.md. trixie is stable, so its tarballs are pinned by sha256;
// sid moves, so rspamd is looked up at build time and the header is checked by its version macros.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir, output, run, say } from './common.mjs';

export const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Pinned tarballs: Debian source package, version, suite, the .orig file and its sha256 (Sources index). */
export const PINNED = {
  libsrtp: {
    pkg: 'libsrtp2', version: '2.7.0-3', suite: 'trixie', file: 'libsrtp2_2.7.0.orig.tar.gz',
    sha256: '54facb1727a557c2a76b91194dcb2d0a453aaf8e2d0cbbf1e3c2848c323e28ad',
  },
  flatbuffers: {
    pkg: 'flatbuffers', version: '23.5.26+dfsg-4', suite: 'trixie', file: 'flatbuffers_23.5.26+dfsg.orig.tar.xz',
    sha256: '0d309fd2c47bbbebd450e68d1419c336d53d1b8f5ce47e1f1f7f28f452fc6f3b',
  },
};
/** unordered_dense.h as last verified (rspamd 4.1.5, version macros 4.4.0); any 4.x >= 4.4 is accepted. */
export const UNORDERED_DENSE_KNOWN_SHA256 = 'a11bdab2ee94be99b7df22ab913176e61c4af96eea4a3833dc6289337f87991d';
const UNORDERED_DENSE_MIN = [4, 4];

const sourcesDir = () => join(cacheDir(), 'mediasoup-worker', 'sources');
const cachedPinned = (name) => join(sourcesDir(), PINNED[name].file);
const cachedHeader = () => join(sourcesDir(), 'unordered_dense.h');

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

/** The version macros of an unordered_dense.h, e.g. [4, 4, 0]; undefined when absent. */
export function unorderedDenseVersion(file) {
  const text = readFileSync(file, 'utf8');
  const v = ['MAJOR', 'MINOR', 'PATCH'].map((p) => new RegExp(`#\\s*define\\s+ANKERL_UNORDERED_DENSE_VERSION_${p}\\s+(\\d+)`).exec(text)?.[1]);
  return v.every((x) => x !== undefined) ? v.map(Number) : undefined;
}

const usableHeader = (v) => v !== undefined && v[0] === UNORDERED_DENSE_MIN[0] && v[1] >= UNORDERED_DENSE_MIN[1];

/** True when every source is already in the cache with the right hash (or version, for the header). */
function allCached() {
  return Object.keys(PINNED).every((n) => existsSync(cachedPinned(n)) && sha256(cachedPinned(n)) === PINNED[n].sha256)
    && existsSync(cachedHeader()) && usableHeader(unorderedDenseVersion(cachedHeader()));
}

/** The sha256s the cache key is made of: what is cached, or what a download is expected to bring. */
export function sourceHashes() {
  const header = existsSync(cachedHeader()) ? sha256(cachedHeader()) : UNORDERED_DENSE_KNOWN_SHA256;
  return { libsrtp: PINNED.libsrtp.sha256, flatbuffers: PINNED.flatbuffers.sha256, unordered_dense: header };
}

function cacheFile(from, to) {
  mkdirSync(sourcesDir(), { recursive: true });
  copyFileSync(from, `${to}.tmp-${process.pid}`);
  renameSync(`${to}.tmp-${process.pid}`, to);
}

/**
 * Downloads what is missing through a temporary deb-src list (trixie + sid) that only these apt calls
 * read; the machine's own sources are left alone. Returns the cached files.
 */
export function ensureSources() {
  const files = { libsrtp: cachedPinned('libsrtp'), flatbuffers: cachedPinned('flatbuffers'), unorderedDense: cachedHeader() };
  if (allCached()) {
    say('worker sources: libsrtp 2.7.0, flatbuffers 23.5.26, unordered_dense.h cached');
    return files;
  }
  const { uri, key } = debianArchive();
  const signedBy = key ?? '/usr/share/keyrings/debian-archive-keyring.gpg';
  const tmp = mkdtempSync(join(tmpdir(), 'sfu-worker-src-'));
  const list = join(tmp, 'deb-src.sources');
  writeFileSync(list, `Types: deb-src\nURIs: ${uri}\nSuites: trixie sid\nComponents: main\nSigned-By: ${signedBy}\n`);
  const aptOpts = ['-o', `Dir::Etc::sourcelist=${list}`, '-o', 'Dir::Etc::sourceparts=-', '-o', 'APT::Get::List-Cleanup=0'];
  try {
    say(`apt-get update (deb-src trixie sid from ${uri}, a temporary list)`);
    run('apt-get', ['update', '-q', ...aptOpts], { quiet: true });
    // Only the .orig tarball is wanted; a mirror may lack the .debian.tar.xz, and apt-get then exits
    // non-zero although the tarball arrived: check the tarball, not the exit code.
    const source = (spec) => output('apt-get', ['source', '--download-only', '-q', ...aptOpts, spec], { cwd: tmp });
    for (const [name, p] of Object.entries(PINNED)) {
      if (existsSync(cachedPinned(name)) && sha256(cachedPinned(name)) === p.sha256) continue;
      say(`apt-get source --download-only ${p.pkg}=${p.version} (${p.suite})`);
      source(`${p.pkg}=${p.version}`);
      const got = join(tmp, p.file);
      if (!existsSync(got)) throw new Error(`apt-get source ${p.pkg}=${p.version} gave no ${p.file} (is ${p.suite} still on ${uri}?)`);
      const sha = sha256(got);
      if (sha !== p.sha256) throw new Error(`${p.file} has sha256 ${sha}, expected ${p.sha256}`);
      cacheFile(got, cachedPinned(name));
    }
    if (!(existsSync(cachedHeader()) && usableHeader(unorderedDenseVersion(cachedHeader())))) {
      // sid moves: take whatever rspamd it has now and check the vendored header's version.
      const rspamd = output('apt-cache', ['showsrc', ...aptOpts, 'rspamd'])?.match(/^Version: (.+)$/gm)?.map((l) => l.slice(9)) ?? [];
      say(`apt-get source --download-only rspamd (sid; versions seen: ${rspamd.join(', ') || 'none'}) for contrib/ankerl/unordered_dense.h`);
      source('rspamd/sid');
      const tarball = readdirSync(tmp).find((f) => /^rspamd_.*\.orig\.tar\.(xz|gz)$/.test(f));
      if (!tarball) throw new Error('apt-get source rspamd/sid gave no rspamd_*.orig.tar.*');
      const out = join(tmp, 'rspamd');
      mkdirSync(out);
      run('tar', ['-xf', join(tmp, tarball), '-C', out, '--strip-components=1', '--wildcards', '*/contrib/ankerl/unordered_dense.h'], { quiet: true });
      const header = join(out, 'contrib', 'ankerl', 'unordered_dense.h');
      const version = unorderedDenseVersion(header);
      if (!usableHeader(version)) throw new Error(`${tarball}: unordered_dense.h version ${version?.join('.') ?? 'unknown'}, need 4.x >= ${UNORDERED_DENSE_MIN.join('.')}`);
      say(`unordered_dense.h ${version.join('.')} from ${tarball}`);
      cacheFile(header, cachedHeader());
    }
    return files;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
