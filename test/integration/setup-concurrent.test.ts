import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.ts';
import { until } from '../helpers/until.ts';

const ROOT = join(import.meta.dirname, '../..');
const WORKER = process.env.MEDIASOUP_WORKER_BIN;

/**
 * Two `npm run setup` at once (scripts/bootstrap.mjs setup) on a machine without the worker cached
 * (SFU_CACHE_DIR: an empty directory), with SFU_WORKER_BUILD_CMD standing in for the 5-minute build:
 * it counts its runs and copies the tests' worker binary once the test lets it finish. The binary is
 * still verified for real (a worker with an ICE + DTLS handshake) before it is cached.
 *
 * The two run in a copy of the checkout (scripts, src, package files) whose node_modules links to
 * this checkout's packages, so that nothing here is rebuilt or reinstalled.
 */
describe.skipIf(!WORKER)('two set-ups at once', () => {
  let work: string;
  let root: string;
  let cache: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'sfu-setup-test-'));
    root = join(work, 'checkout');
    cache = join(work, 'cache');
    mkdirSync(root);
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(root, f));
    for (const d of ['scripts', 'src']) cpSync(join(ROOT, d), join(root, d), { recursive: true });
    mkdirSync(join(root, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (!name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(root, 'node_modules', name));
    }
    // The stamp bootstrap writes after npm ci: these node_modules are this package-lock.json's.
    const hash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
    writeFileSync(join(root, 'node_modules', '.sfu-lock-hash'), `${hash}\n`);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('build the worker once: the second waits, saying so, then takes the cached binary; both build dist/client', async () => {
    const builds = join(work, 'builds');
    const go = join(work, 'go');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MEDIASOUP_WORKER_BIN: undefined,
      SFU_CACHE_DIR: cache,
      SFU_WORKER_BUILD_CMD: `echo build >> '${builds}'; while [ ! -e '${go}' ]; do sleep 0.05; done; cp '${WORKER}' "$SFU_WORKER_BUILD_OUT"`,
    };
    delete env.MEDIASOUP_WORKER_BIN;
    const bootstrap = join(root, 'scripts', 'bootstrap.mjs');
    const first = startChild(process.execPath, [bootstrap, 'setup'], { cwd: root, env });
    await until(() => existsSync(builds), 'the first set-up starting its build', 30_000);
    const second = startChild(process.execPath, [bootstrap, 'setup'], { cwd: root, env });
    await until(() => second.output().includes('waiting for another set-up'), 'the second set-up saying it waits', 30_000);
    expect(second.output()).toContain(`(pid ${first.child.pid}, setting up the mediasoup worker`);
    writeFileSync(go, '');
    const codes = await Promise.all([first.exited, second.exited]);
    const show = (c: Child) => c.output();
    expect(codes, `${show(first)}\n----\n${show(second)}`).toEqual([0, 0]);
    expect(readFileSync(builds, 'utf8')).toBe('build\n');
    expect(first.output()).toContain('building with SFU_WORKER_BUILD_CMD');
    expect(first.output()).toMatch(/verified: /);
    expect(second.output()).toContain('cached by another set-up meanwhile');
    expect(second.output()).not.toContain('SFU_WORKER_BUILD_CMD');
    const cached = readdirSync(join(cache, 'mediasoup-worker')).filter((d) => d.startsWith('3.27.1-'));
    expect(cached).toHaveLength(1);
    expect(existsSync(join(cache, 'mediasoup-worker', cached[0]!, 'mediasoup-worker'))).toBe(true);
    // npm run setup builds the browser client too (README, "Two commands", step 4).
    expect(existsSync(join(root, 'dist', 'client', 'app.js'))).toBe(true);
    expect(existsSync(join(root, 'dist', 'client', 'desk.js'))).toBe(true);
    expect(readdirSync(join(cache, 'locks')).filter((f) => f.endsWith('.lock'))).toEqual([]);
  }, 120_000);
});
