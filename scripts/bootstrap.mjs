#!/usr/bin/env node
// The README's two commands start here: `npm start` and `npm test` run this script, which sets up
// whatever is missing (saying what it does) and hands over to Node 24. Node built-ins only.
//   node scripts/bootstrap.mjs <setup|start|test|typecheck|token|build-client|bench|bench:quick> [args]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNode24 } from './setup/node.mjs';
import { ensureDeps } from './setup/deps.mjs';
import { ensureWorker } from './setup/worker.mjs';
import { ensureChromium } from './setup/chromium.mjs';
import { run } from './setup/common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [task = 'setup', ...args] = process.argv.slice(2);

const TASKS = {
  setup: { worker: true, client: true, chromium: false, command: null },
  start: { worker: true, client: true, chromium: false, command: () => ['src/main.ts', ...args] },
  test: { worker: true, client: true, chromium: true, command: () => ['node_modules/vitest/vitest.mjs', 'run', ...args], typecheck: true },
  typecheck: { worker: false, client: false, chromium: false, command: () => ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'] },
  token: { worker: false, client: false, chromium: false, command: () => ['scripts/token.ts', ...args] },
  'audit:verify': { worker: false, client: false, chromium: false, command: () => ['scripts/audit-verify.ts', ...args] },
  'build-client': { worker: false, client: true, chromium: false, command: null },
  bench: { worker: true, client: false, chromium: false, command: () => ['bench/run.ts', ...args] },
  'bench:quick': { worker: true, client: false, chromium: false, command: () => ['bench/run.ts', '--quick', ...args] },
};

/** Runs node with args in the project root; resolves with its exit code, forwarding signals. */
function handOver(node, nodeArgs, env) {
  return new Promise((resolve) => {
    const child = spawn(node, nodeArgs, { cwd: root, stdio: 'inherit', env });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

async function main() {
  const spec = TASKS[task];
  if (!spec) {
    process.stderr.write(`bootstrap: unknown task "${task}" (tasks: ${Object.keys(TASKS).join(', ')})\n`);
    return 2;
  }
  const node = ensureNode24();
  ensureDeps(root);
  const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}` };
  if (spec.worker) env.MEDIASOUP_WORKER_BIN = await ensureWorker(root);
  if (spec.chromium) env.SFU_CHROMIUM_BIN = ensureChromium();
  if (spec.client && existsSync(join(root, 'scripts', 'build-client.mjs')) && existsSync(join(root, 'src', 'client'))) {
    run(node, [join(root, 'scripts', 'build-client.mjs')], { cwd: root, env });
  }
  if (spec.typecheck) {
    const code = await handOver(node, TASKS.typecheck.command(), env);
    if (code !== 0) return code;
  }
  if (!spec.command) return 0;
  const [entry] = spec.command();
  if (!existsSync(join(root, entry))) {
    process.stderr.write(`bootstrap: ${entry} does not exist yet\n`);
    return 1;
  }
  return handOver(node, spec.command(), env);
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`[setup] failed: ${err.message}\n`);
  process.exit(1);
});
