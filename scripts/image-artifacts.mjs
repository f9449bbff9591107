#!/usr/bin/env node
// Prepares image-artifacts/ for `docker build --build-arg ARTIFACTS=prebuilt` (Dockerfile): what the
// image's source stage would build, made here by the project's own set-up instead, so that the image
// build needs no npm registry (air-gapped builders; builders whose npm has no registry configured).
//
//   node scripts/image-artifacts.mjs [--out DIR]      (default: image-artifacts/ in the project)
//
// DIR/node_modules   the production dependencies only (the packages package-lock.json does not mark
//                    dev), copied from node_modules as the set-up installed it
// DIR/dist           the browser client bundle (scripts/build-client.mjs)
// DIR/mediasoup-worker  the worker binary the set-up verified (MEDIASOUP_WORKER_BIN, the cache, or
//                    built); built against Debian 12's libraries it needs libuv1, libssl3 and
//                    libabsl20220623 at run time, which the runtime stage installs
// DIR/artifacts.json what was put there (versions; no paths, no credentials)
// DIR/.stamp         what it was made from (the lock, the worker, dist/): an unchanged set-up is not copied again
//
// Nothing from the host's npm configuration is copied. Node built-ins only.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureNode24 } from './setup/node.mjs';
import { ensureWorker, MEDIASOUP_VERSION } from './setup/worker.mjs';
import { run, say } from './setup/common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'image-artifacts') } } });
const out = resolve(values.out);

/** The lock's production packages: every `node_modules/...` entry not marked dev (npm's own --omit=dev rule). */
function productionPackages() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev)
    .map(([path]) => path);
}

/** What the artifacts are made from: the lock, the worker binary (its bytes: the same build may sit at two paths), the client bundle's files (names, sizes, times). */
function sourceStamp(worker) {
  const h = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).update(readFileSync(worker));
  for (const f of [...readdirSync(join(root, 'dist'), { recursive: true }).map((p) => join(root, 'dist', String(p))).sort()]) {
    const st = statSync(f);
    if (st.isFile()) h.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

async function main() {
  // The project's own set-up (npm ci, the worker, the client bundle, each under its lock); then the
  // worker's path, which the set-up has just cached (or MEDIASOUP_WORKER_BIN names).
  run(process.execPath, [join(root, 'scripts', 'bootstrap.mjs'), 'setup'], { cwd: root });
  const node = await ensureNode24();
  const worker = await ensureWorker(root, node);

  const stamp = sourceStamp(worker);
  if (existsSync(join(out, '.stamp')) && readFileSync(join(out, '.stamp'), 'utf8').trim() === stamp) {
    say(`image artifacts: up to date in ${out}`);
    return;
  }
  // Assembled beside the destination, then renamed into place: a failed run leaves no half directory.
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const packages = productionPackages();
    let copied = 0;
    for (const path of packages) {
      const from = join(root, path);
      // Optional packages of another platform are in the lock but not installed here.
      if (!existsSync(from)) continue;
      const to = join(tmp, path);
      if (existsSync(to)) continue; // already copied with its parent package
      cpSync(from, to, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.endsWith('/.bin') });
      copied += 1;
    }
    cpSync(join(root, 'dist'), join(tmp, 'dist'), { recursive: true });
    cpSync(worker, join(tmp, 'mediasoup-worker'));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    writeFileSync(join(tmp, 'artifacts.json'), `${JSON.stringify({
      package: `${pkg.name}@${pkg.version}`, node: process.versions.node, mediasoup: MEDIASOUP_VERSION, productionPackages: copied,
    }, null, 2)}\n`);
    writeFileSync(join(tmp, '.stamp'), `${stamp}\n`);
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
    say(`image artifacts: ${copied} production packages, dist/, mediasoup-worker in ${out}`);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`[setup] failed: ${err.message}\n`);
  process.exit(1);
});
