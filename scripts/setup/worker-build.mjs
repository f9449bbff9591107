// Offline build of the mediasoup 3.27 worker on Debian 12, from the facts in
// shared/notes/mediasoup-327-offline.md: the distribution's OpenSSL, libuv and abseil through meson
// shims (worker-shims.mjs); libsrtp 2.x, flatbuffers 23.5.26 and unordered_dense from Debian source
// packages (worker-sources.mjs); the libsrtp 3 -> 2 compatibility header and flatbuffers' meson.build
// written in this project (worker-overlay/). One line of mediasoup's DTLS code is patched in the
// scratch copy (patchDtlsBioCallback; node_modules stays untouched): see docs/worker-build.md.
import { appendFileSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, isRoot, installed, run, runLogged, say } from './common.mjs';
import { SHIMS } from './worker-shims.mjs';
import { ensureSources } from './worker-sources.mjs';

/** bookworm binaries the build needs; the -dev ones are part of the cache key (worker.mjs). */
export const BUILD_PACKAGES = ['meson', 'ninja-build', 'pkg-config', 'g++', 'xz-utils', 'libssl-dev', 'libuv1-dev', 'libabsl-dev'];
const OVERLAY = join(dirname(fileURLToPath(import.meta.url)), 'worker-overlay');
// Directory names from mediasoup 3.27.1's worker/subprojects/*.wrap (`directory =`).
const SRTP_DIR = 'libsrtp-3.0.0-beta-2fc078db';
const FLATBUFFERS_DIR = 'flatbuffers-24.3.25';
const UNORDERED_DENSE_DIR = 'unordered_dense-4.8.1';

/** Debian's meson is 1.0.1; mediasoup asks for 1.1 but uses nothing from it. */
function relaxMesonVersion(work) {
  const file = join(work, 'meson.build');
  const text = readFileSync(file, 'utf8');
  if (!text.includes("meson_version: '>= 1.1.0'")) throw new Error("worker/meson.build: the meson_version: '>= 1.1.0' line is gone; check the recipe");
  writeFileSync(file, text.replace("meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'"));
}

// mediasoup >= 3.13 (src/RTC/DtlsTransport.cpp, onSslBioOut) answers every BIO_CB_RETURN-flagged
// callback except a bare BIO_CB_RETURN with 1, so every BIO_ctrl() on its write BIO returns 1. Debian's
// libssl is built with kTLS: at handshake start ssl3_setup_write_buffer() asks
// BIO_get_ktls_send(wbio), gets 1, and leaves the record write buffer NULL ("kTLS writes from the
// user's buffer"); the first record written (the ServerHello) then segfaults. mediasoup's own OpenSSL
// 3.0.8 subproject is built without kTLS (BIO_get_ktls_send is the constant 0), so upstream never
// sees it. The fix: return OpenSSL's own result for every RETURN call, as a callback must.
const DTLS_CALLBACK_OLD = 'const long resultOfcallback = (operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1;';
const DTLS_CALLBACK_NEW = 'const long resultOfcallback = ((operationType & BIO_CB_RETURN) != 0) ? static_cast<long>(ret) : 1;';
/** What the build changes in mediasoup's sources; part of the cache key (worker.mjs). */
export const SOURCE_PATCHES = [`DtlsTransport.cpp: ${DTLS_CALLBACK_OLD} -> ${DTLS_CALLBACK_NEW}`];

function patchDtlsBioCallback(work) {
  const file = join(work, 'src', 'RTC', 'DtlsTransport.cpp');
  const text = readFileSync(file, 'utf8');
  if (text.split(DTLS_CALLBACK_OLD).length !== 2) throw new Error('worker/src/RTC/DtlsTransport.cpp: the onSslBioOut result line is gone or repeated; check whether mediasoup fixed it (docs/worker-build.md)');
  writeFileSync(file, text.replace(DTLS_CALLBACK_OLD, DTLS_CALLBACK_NEW));
}

/** One directory per wrap, named as its `directory =`: meson then uses it and downloads nothing. */
function writeSubprojects(work, sources) {
  const sub = join(work, 'subprojects');
  for (const [dir, files] of Object.entries(SHIMS)) {
    mkdirSync(join(sub, dir), { recursive: true });
    for (const [name, content] of Object.entries(files)) writeFileSync(join(sub, dir, name), content);
  }
  // unordered_dense: the header, and the wrap's own meson.build (meson applies patch_directory only
  // when it downloads, so it is copied here).
  mkdirSync(join(sub, UNORDERED_DENSE_DIR, 'include', 'ankerl'), { recursive: true });
  copyFileSync(sources.unorderedDense, join(sub, UNORDERED_DENSE_DIR, 'include', 'ankerl', 'unordered_dense.h'));
  copyFileSync(join(sub, 'packagefiles', 'ankerl-unordered-dense', 'meson.build'), join(sub, UNORDERED_DENSE_DIR, 'meson.build'));
  // flatbuffers 23.5.26: flatc and the headers from one tree, with our meson.build.
  mkdirSync(join(sub, FLATBUFFERS_DIR));
  run('tar', ['-xJf', sources.flatbuffers, '-C', join(sub, FLATBUFFERS_DIR), '--strip-components=1'], { quiet: true });
  copyFileSync(join(OVERLAY, 'flatbuffers', 'meson.build'), join(sub, FLATBUFFERS_DIR, 'meson.build'));
  // libsrtp 2.x, built by its own meson.build with the options mediasoup passes (OpenSSL crypto),
  // plus the libsrtp 3 compatibility header and the names mediasoup reads.
  const srtp = join(sub, SRTP_DIR);
  mkdirSync(join(srtp, 'mediasoup-compat'), { recursive: true });
  run('tar', ['-xzf', sources.libsrtp, '-C', srtp, '--strip-components=1'], { quiet: true });
  copyFileSync(join(OVERLAY, 'libsrtp3-compat', 'srtp.h'), join(srtp, 'mediasoup-compat', 'srtp.h'));
  appendFileSync(join(srtp, 'meson.build'), readFileSync(join(OVERLAY, 'libsrtp.meson.build.append'), 'utf8'));
}

/** Builds mediasoup-worker in a scratch directory; returns its path and a cleanup function. */
export function buildOffline(root, log) {
  const missing = BUILD_PACKAGES.filter((p) => !installed(p));
  if (missing.length > 0 && !isRoot()) {
    throw new Error(`the offline worker build needs: ${missing.join(' ')} (run as root once, or set MEDIASOUP_WORKER_BIN)`);
  }
  aptInstall(BUILD_PACKAGES, 'building the mediasoup worker');
  const sources = ensureSources();
  const src = join(root, 'node_modules', 'mediasoup', 'worker');
  const work = mkdtempSync(join(tmpdir(), 'sfu-worker-build-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  try {
    cpSync(src, work, { recursive: true, filter: (p) => p !== join(src, 'out') });
    relaxMesonVersion(work);
    patchDtlsBioCallback(work);
    say('worker source: DtlsTransport onSslBioOut returns OpenSSL\'s result for BIO_ctrl (Debian\'s libssl has kTLS)');
    say("worker tree: shims for Debian's openssl, libuv, abseil; libsrtp 2.7.0 + libsrtp 3 compat header; flatbuffers 23.5.26; unordered_dense");
    writeSubprojects(work, sources);
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, '');
    const started = Date.now();
    say(`meson setup (log: ${log})`);
    runLogged('meson', ['setup', '--buildtype', 'release', '-Db_ndebug=true', '-Db_pie=true', '-Db_staticpic=true', 'out'], log, { cwd: work });
    // deps/libwebrtc includes the generated FBS/*.h without depending on their target (a race in
    // mediasoup 3.27.1's meson.build): generate them first.
    say('ninja fbs/FBS/notification.h (flatc and the generated FlatBuffers headers first)');
    runLogged('ninja', ['-C', 'out', 'fbs/FBS/notification.h'], log, { cwd: work });
    say('ninja mediasoup-worker (about 5.5 minutes on 2 cores)');
    runLogged('ninja', ['-C', 'out', 'mediasoup-worker'], log, { cwd: work });
    say(`worker built in ${Math.round((Date.now() - started) / 1000)} s`);
    return { binary: join(work, 'out', 'mediasoup-worker'), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
