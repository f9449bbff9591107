// npm dependencies, without install scripts (the worker step sets up mediasoup's binary), reinstalled
// when node_modules is missing or its stamp does not match package-lock.json's content hash.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, say } from './common.mjs';

const FLAGS = ['--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];

export function ensureDeps(root) {
  const hash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
  const stamp = join(root, 'node_modules', '.sfu-lock-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) {
    say('npm dependencies: up to date with package-lock.json');
    return;
  }
  say('npm ci --ignore-scripts (node_modules missing or out of date)');
  const ci = spawnSync('npm', ['ci', ...FLAGS], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  if (ci.error || ci.status !== 0) {
    // npm ci refuses a lock file that lacks some optional platform packages (rollup's, when the lock
    // was written against a registry mirror without them); npm install takes the same locked
    // versions and skips them, and --no-save leaves package-lock.json untouched.
    const reason = /npm error (?!code )(.*)/.exec(ci.stderr ?? '')?.[1] ?? ci.error?.message ?? `exit ${ci.status}`;
    say(`npm ci refused: ${reason.slice(0, 100)}...`);
    say('npm install --ignore-scripts --no-save (same locked versions, lock file untouched)');
    run('npm', ['install', '--no-save', ...FLAGS], { cwd: root });
  }
  writeFileSync(stamp, `${hash}\n`);
}
