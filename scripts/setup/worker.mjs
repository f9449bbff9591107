// The mediasoup 3.27.1 worker: $MEDIASOUP_WORKER_BIN, else the cache, else (under the cache's lock,
// so that concurrent set-ups build it once) mediasoup's prebuilt download, else an offline build
// against Debian 12's libraries (worker-build.mjs); $SFU_WORKER_BUILD_CMD replaces both.
// mediasoup's node lib reads process.env.MEDIASOUP_WORKER_BIN (node/lib/Worker.js).
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { arch, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { aptInstall, cacheDir, output, run, say } from './common.mjs';
import { buildOffline, SOURCE_PATCHES } from './worker-build.mjs';
import { sourceHashes } from './worker-sources.mjs';
import { withLock } from './lock.mjs';

export const MEDIASOUP_VERSION = '3.27.1';
// The -dev packages the worker is compiled against (the others in BUILD_PACKAGES are tools).
const KEY_PACKAGES = ['libssl-dev', 'libuv1-dev', 'libabsl-dev'];
// mediasoup's own name for its prebuilt worker (npm-scripts.mjs getWorkerPrebuildTarName()).
const PREBUILT_URL = `https://github.com/versatica/mediasoup/releases/download/${MEDIASOUP_VERSION}/mediasoup-worker-${MEDIASOUP_VERSION}-${platform()}-${arch()}${platform() === 'linux' ? `-kernel${release().split('.')[0]}` : ''}.tgz`;

const executable = (p) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };

/**
 * Cache key: the mediasoup version, the Debian versions of the -dev packages the worker is compiled
 * against, the sha256 of each source the offline build takes (libsrtp, flatbuffers, unordered_dense.h)
 * and the patches it applies to mediasoup's sources (SOURCE_PATCHES).
 * A prebuilt download is cached under the same key (the key then only says where it is kept).
 */
function cacheKey() {
  const versions = KEY_PACKAGES.map((p) => `${p}=${output('dpkg-query', ['-W', '-f=${Version}', p]) ?? 'none'}`);
  const sources = Object.entries(sourceHashes()).map(([name, sha]) => `${name}=${sha}`);
  return createHash('sha256').update([`mediasoup=${MEDIASOUP_VERSION}`, ...versions, ...sources, ...SOURCE_PATCHES.map((p) => `patch=${p}`)].join('\n')).digest('hex').slice(0, 12);
}

/**
 * Starts a real worker through mediasoup with this binary (the FlatBuffers channel must agree with the
 * node lib), with a router, a WebRtcServer on loopback UDP + TCP and a WebRtcTransport on it, and
 * completes a real ICE + DTLS 1.2 handshake with it (`openssl s_client` through a UDP relay,
 * dtls-check.mjs): a binary that starts but cannot serve a browser's DTLS (the kTLS crash of
 * docs/worker-build.md) is never cached. Throws with its output when it fails.
 */
export function verify(node, root, bin) {
  if (output('openssl', ['version']) === undefined) aptInstall(['openssl'], "the mediasoup worker's DTLS check (openssl s_client)");
  const r = spawnSync(node, [join(root, 'scripts', 'setup', 'dtls-check.mjs')], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, VERIFY_WORKER_BIN: bin },
  });
  if (r.status !== 0) throw new Error(`${bin} failed the set-up's check (mediasoup worker + ICE/DTLS handshake):\n${r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`}`);
  say(`verified: ${r.stdout.trim()}`);
}

/** Verifies the binary, then copies it into the cache atomically (temp file, then rename). */
function install(node, root, binary, cachedBin) {
  verify(node, root, binary);
  mkdirSync(dirname(cachedBin), { recursive: true });
  const tmp = `${cachedBin}.tmp-${process.pid}`;
  copyFileSync(binary, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, cachedBin);
}

async function tryPrebuilt(node, root, cachedBin) {
  const tmp = mkdtempSync(join(cacheDir(), '.prebuilt-tmp-'));
  try {
    const res = await fetch(PREBUILT_URL, { signal: AbortSignal.timeout(8000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    writeFileSync(join(tmp, 'w.tgz'), Buffer.from(await res.arrayBuffer()));
    run('tar', ['-xzf', join(tmp, 'w.tgz'), '-C', tmp], { quiet: true });
    const found = readdirSync(tmp, { recursive: true }).map(String).find((f) => f.endsWith('mediasoup-worker'));
    if (!found) throw new Error('no mediasoup-worker in the archive');
    install(node, root, join(tmp, found), cachedBin);
    return true;
  } catch (err) {
    say(`prebuilt download unavailable (${(err.cause?.message ?? err.message).split('\n')[0]})`);
    return false;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Returns the path of a mediasoup-worker binary, setting it up when needed. */
export async function ensureWorker(root, node) {
  const given = process.env.MEDIASOUP_WORKER_BIN;
  if (given) {
    if (!executable(given)) throw new Error(`MEDIASOUP_WORKER_BIN=${given} is not an executable file`);
    say(`mediasoup worker: MEDIASOUP_WORKER_BIN=${given}`);
    return given;
  }
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', 'mediasoup', 'package.json'), 'utf8'));
  if (pkg.version !== MEDIASOUP_VERSION) {
    throw new Error(`node_modules has mediasoup ${pkg.version}; this set-up builds the worker of ${MEDIASOUP_VERSION} only`);
  }
  const cachedBin = cachedPath();
  if (executable(cachedBin)) {
    say(`mediasoup worker ${MEDIASOUP_VERSION}: cached (${cachedBin})`);
    return cachedBin;
  }
  // Under the cache's lock: a second set-up (another terminal, a test beside npm start, another
  // checkout) waits for this one's build and then takes the cached binary instead of building again.
  return withLock(join(cacheDir(), 'locks'), 'mediasoup-worker', `setting up the mediasoup worker ${MEDIASOUP_VERSION}`, () => setUp(root, node));
}

const cachedPath = () => join(cacheDir(), 'mediasoup-worker', `${MEDIASOUP_VERSION}-${cacheKey()}`, 'mediasoup-worker');

async function setUp(root, node) {
  const cachedBin = cachedPath();
  if (executable(cachedBin)) {
    say(`mediasoup worker ${MEDIASOUP_VERSION}: cached by another set-up meanwhile (${cachedBin})`);
    return cachedBin;
  }
  mkdirSync(cacheDir(), { recursive: true });
  if (process.env.SFU_WORKER_BUILD_CMD) return standIn(root, node, cachedBin);
  say(`mediasoup worker ${MEDIASOUP_VERSION}: not cached; trying mediasoup's prebuilt download`);
  if (await tryPrebuilt(node, root, cachedBin)) {
    say(`mediasoup worker ${MEDIASOUP_VERSION}: prebuilt download, installed into ${cachedBin}`);
    return cachedBin;
  }
  say(`mediasoup worker ${MEDIASOUP_VERSION}: offline build against Debian 12's libraries`);
  const built = buildOffline(root, `${dirname(cachedBin)}.build.log`);
  // The build installs the -dev packages the key names: key the binary by what it was built against,
  // or the next run, seeing them installed, would miss this cache and build again.
  const builtBin = cachedPath();
  try {
    install(node, root, built.binary, builtBin);
  } finally {
    built.cleanup();
  }
  say(`mediasoup worker ${MEDIASOUP_VERSION}: offline build against Debian's libraries, installed into ${builtBin}`);
  return builtBin;
}

/**
 * $SFU_WORKER_BUILD_CMD (a shell command) in place of the download and the offline build: it must
 * write a worker binary to $SFU_WORKER_BUILD_OUT, which is then verified and cached like a built one.
 * For the set-up's own tests (a quick stand-in for the 5-minute build) and sites with their own build.
 */
function standIn(root, node, cachedBin) {
  const tmp = mkdtempSync(join(cacheDir(), '.worker-cmd-tmp-'));
  try {
    const out = join(tmp, 'mediasoup-worker');
    say(`mediasoup worker ${MEDIASOUP_VERSION}: not cached; building with SFU_WORKER_BUILD_CMD`);
    run('sh', ['-c', process.env.SFU_WORKER_BUILD_CMD], { cwd: root, env: { ...process.env, SFU_WORKER_BUILD_OUT: out } });
    if (!executable(out)) throw new Error(`SFU_WORKER_BUILD_CMD wrote no executable to $SFU_WORKER_BUILD_OUT (${out})`);
    install(node, root, out, cachedBin);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  say(`mediasoup worker ${MEDIASOUP_VERSION}: SFU_WORKER_BUILD_CMD's binary, installed into ${cachedBin}`);
  return cachedBin;
}
