// npm dependencies, exactly as package-lock.json records them (`npm ci`, without install scripts:
// the worker step sets up mediasoup's binary), reinstalled when node_modules is missing or its stamp
// does not match package-lock.json's content hash. Under the checkout's set-up lock: npm ci first
// deletes node_modules, so two at once in one checkout would pull it from under each other.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { say, setupFd } from './common.mjs';

const FLAGS = ['--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];

const lockHash = (root) => createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
const stampPath = (root) => join(root, 'node_modules', '.sfu-lock-hash');

/** True when node_modules was installed from this package-lock.json (no lock needed to know). */
export function depsUpToDate(root) {
  const stamp = stampPath(root);
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === lockHash(root);
}

/** Runs npm ci unless node_modules is up to date; call it holding the checkout's lock. */
export function ensureDeps(root) {
  if (depsUpToDate(root)) {
    say('npm dependencies: up to date with package-lock.json');
    return;
  }
  const hash = lockHash(root);
  say('npm ci --ignore-scripts (node_modules missing or out of date with package-lock.json)');
  const ci = spawnSync('npm', ['ci', ...FLAGS], { cwd: root, encoding: 'utf8', stdio: ['ignore', setupFd(), 'pipe'] });
  if (ci.error || ci.status !== 0) {
    // No fallback to npm install: it would hide a lock file that CI, the Dockerfile and macOS refuse.
    const detail = (ci.stderr ?? '').trim().split('\n').slice(-12).join('\n') || ci.error?.message || `exit ${ci.status ?? ci.signal}`;
    throw new Error(`npm ci failed:\n${detail}\n`
      + '  If it says the lock file is out of step ("Missing: ... from lock file"), regenerate it with Node 24\'s npm '
      + '(npm install --package-lock-only --ignore-scripts) and commit package-lock.json; test/unit/package-lock.test.ts checks it.');
  }
  writeFileSync(stampPath(root), `${hash}\n`);
}
