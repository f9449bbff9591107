// npm dependencies, installed at the lock file's versions when node_modules is missing or stale.
// `npm install` rather than `npm ci`: the registry mirror reachable here lacks some platform-only
// optional packages (e.g. rollup's android builds) at the locked version, which `npm ci` treats as
// an out-of-sync lock file; `npm install` skips them as the optional packages they are.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, say } from './common.mjs';

export function ensureDeps(root) {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const hash = createHash('sha256').update(lock).digest('hex');
  const stamp = join(root, 'node_modules', '.sfu-lock-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return;
  // Install scripts are not needed: the mediasoup worker is set up by the next step.
  say('npm install --ignore-scripts (node_modules missing or out of date)');
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root });
  writeFileSync(stamp, `${hash}\n`);
}
