#!/usr/bin/env node
// `npm start`, `npm test` and friends start here: set up whatever is missing (one [setup] line per
// check), then hand over to Node 24. Node built-ins only; runs on Node 20 and 24; never prompts.
//   node scripts/bootstrap.mjs <setup|start|test|typecheck|token|audit:verify|admin|build-client|bench|bench:quick> [args]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNode24 } from './setup/node.mjs';
import { depsUpToDate, ensureDeps } from './setup/deps.mjs';
import { withLock } from './setup/lock.mjs';
import { ensureWorker } from './setup/worker.mjs';
import { ensureChromium, ensureFirefox } from './setup/chromium.mjs';
import { ensureJanus } from './setup/janus.mjs';
import { cacheDir, run, say, sayOnStderr } from './setup/common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [task = 'setup', ...args] = process.argv.slice(2);
const TSC = ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'];
// The browser client has its own project (DOM, bundler resolution): typechecked too.
const TSC_CLIENT = ['node_modules/typescript/bin/tsc', '-p', 'src/client/tsconfig.json'];

// worker: mediasoup worker binary; client: bundle src/client; chromium: for the e2e tests and the
// realism bench; firefox: the Firefox e2e tests (optional: skipped with a warning without it);
// janus: the peer SFU of the full media bench (optional).
// setup does every step README.md lists for `npm start` (Node, npm ci, worker, client bundle).
const TASKS = {
  setup: { worker: true, client: true },
  start: { worker: true, client: true, command: ['src/main.ts', ...args] },
  test: { worker: true, client: true, chromium: true, firefox: true, typecheck: true, command: ['node_modules/vitest/vitest.mjs', 'run', ...args] },
  typecheck: { typecheck: true },
  // dataOut: stdout is the command's answer (a token, JSON), so the [setup] lines go to stderr.
  token: { dataOut: true, command: ['scripts/token.ts', ...args] },
  'audit:verify': { dataOut: true, command: ['scripts/audit-verify.ts', ...args] },
  admin: { dataOut: true, command: ['scripts/admin.ts', ...args] },
  'build-client': { client: true },
  bench: { worker: true, chromium: true, janus: true, command: ['bench/run.ts', ...args] },
  'bench:quick': { worker: true, command: ['bench/run.ts', '--quick', ...args] },
};

/** True when this process is in its terminal's foreground process group (Linux): a Ctrl-C then reaches the child directly. */
function inForeground() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp session tty_nr tpgid
    return f[5] === f[2];
  } catch {
    return false;
  }
}

/** Runs node with args in the project root, forwarding SIGINT/SIGTERM; resolves with its exit code. */
function handOver(node, nodeArgs, env) {
  return new Promise((resolve) => {
    const child = spawn(node, nodeArgs, { cwd: root, stdio: 'inherit', env });
    // A terminal's Ctrl-C already reaches the child: forwarding it too would be a second signal.
    const forward = (sig) => { if (!(sig === 'SIGINT' && inForeground())) child.kill(sig); };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (code) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code);
    };
    child.on('error', (err) => { process.stderr.write(`bootstrap: ${node}: ${err.message}\n`); done(1); });
    child.on('exit', (code, signal) => done(code ?? 128 + (constants.signals[signal] ?? 0)));
  });
}

async function main() {
  const spec = TASKS[task];
  if (!spec) {
    process.stderr.write(`bootstrap: unknown task "${task}" (tasks: ${Object.keys(TASKS).join(', ')})\n`);
    return 2;
  }
  // Benchmarks may not exist yet: say so before any set-up work.
  if (task.startsWith('bench') && !existsSync(join(root, spec.command[0]))) {
    process.stderr.write('no benchmarks yet\n');
    return 1;
  }
  if (spec.dataOut) sayOnStderr();
  const node = await ensureNode24();
  // This checkout's lock (npm ci deletes node_modules first; the bundle is written in place). The
  // lock is kept in the cache, named by the checkout's path, so that nothing is added to the tree.
  const checkoutLock = (what, fn) => withLock(join(cacheDir(), 'locks'), `checkout-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`, `${what} in ${root}`, fn);
  if (depsUpToDate(root)) ensureDeps(root);
  else await checkoutLock('npm ci', () => ensureDeps(root));
  const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
  if (spec.worker) env.MEDIASOUP_WORKER_BIN = await ensureWorker(root, node);
  if (spec.chromium) env.SFU_CHROMIUM_BIN = ensureChromium();
  if (spec.firefox) ensureFirefox();
  if (spec.janus) ensureJanus();
  // The client bundler is someone else's script; the Docker dependency layer has it without src/client.
  if (spec.client && existsSync(join(root, 'scripts', 'build-client.mjs')) && existsSync(join(root, 'src', 'client'))) {
    await checkoutLock('building dist/client', () => run(node, [join(root, 'scripts', 'build-client.mjs')], { cwd: root, env }));
  }
  if (spec.typecheck) {
    for (const tsc of [TSC, TSC_CLIENT]) {
      say(`typecheck: tsc -p ${tsc[2]}`);
      const code = await handOver(node, tsc, env);
      if (code !== 0) return code;
    }
  }
  if (!spec.command) return 0;
  return handOver(node, spec.command, env);
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`[setup] failed: ${err.message}\n`);
  process.exit(1);
});
