import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.ts';
import { until } from '../helpers/until.ts';

// scripts/setup/lock.mjs, driven from child processes as set-up runs use it.
const LOCK = pathToFileURL(join(import.meta.dirname, '../../scripts/setup/lock.mjs')).href;

const dirs: string[] = [];
const children: Child[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'sfu-lock-test-'));
  dirs.push(d);
  return d;
}

/**
 * A process that takes the lock `dir/test.lock`, writes `<id> in` to `log`, waits until the file
 * `release` exists (when given), writes `<id> out`, and exits.
 */
function holder(dir: string, id: string, opts: { release?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const code = `
    import { appendFileSync, existsSync } from 'node:fs';
    import { withLock } from ${JSON.stringify(LOCK)};
    const [dir, id, release] = process.argv.slice(1);
    await withLock(dir, 'test', 'a test holder ' + id, async () => {
      appendFileSync(dir + '/log', id + ' in\\n');
      while (release && !existsSync(release)) await new Promise((r) => setTimeout(r, 20));
      appendFileSync(dir + '/log', id + ' out\\n');
    });`;
  const c = startChild(process.execPath, ['--input-type=module', '-e', code, dir, id, opts.release ?? ''], { env: { ...process.env, ...opts.env } });
  children.push(c);
  return c;
}

const log = (dir: string) => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : '');

describe('set-up lock (scripts/setup/lock.mjs)', () => {
  it('a second process waits, saying who holds the lock, and gets it when the first is done', async () => {
    const dir = scratch();
    const release = join(dir, 'release');
    const a = holder(dir, 'A', { release });
    await until(() => log(dir).includes('A in'), 'A holding the lock');
    const b = holder(dir, 'B');
    await until(() => b.output().includes('waiting for another set-up'), 'B saying it waits');
    expect(b.output()).toContain(`pid ${a.child.pid}, a test holder A`);
    expect(log(dir)).toBe('A in\n');
    writeFileSync(release, '');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(log(dir)).toBe('A in\nA out\nB in\nB out\n');
    expect(existsSync(join(dir, 'test.lock'))).toBe(false);
  });

  it('never lets two holders in at once (four contenders)', async () => {
    const dir = scratch();
    const all = ['1', '2', '3', '4'].map((id) => holder(dir, id));
    expect(await Promise.all(all.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
    const lines = log(dir).trim().split('\n');
    expect(lines).toHaveLength(8);
    for (let i = 0; i < 8; i += 2) expect(lines[i + 1]).toBe(lines[i]!.replace(' in', ' out'));
  });

  it('takes over a lock whose holder is dead', async () => {
    const dir = scratch();
    const dead = startChild(process.execPath, ['-e', '']);
    await dead.exited;
    const owner = { pid: dead.child.pid, host: hostname(), what: 'a set-up that crashed', started: new Date().toISOString(), token: 'stale' };
    writeFileSync(join(dir, 'test.lock'), JSON.stringify(owner));
    const b = holder(dir, 'B');
    expect(await b.exited).toBe(0);
    expect(b.output()).toContain(`its holder (pid ${dead.child.pid}) is gone; taking it over`);
    expect(log(dir)).toBe('B in\nB out\n');
  });

  it('takes over a lock whose pid now belongs to a later process', async () => {
    const dir = scratch();
    // This test's own pid, recorded with another start time: the pid was reused.
    const owner = { pid: process.pid, host: hostname(), start: '1', what: 'an old set-up', started: new Date().toISOString(), token: 'reused' };
    writeFileSync(join(dir, 'test.lock'), JSON.stringify(owner));
    const b = holder(dir, 'B');
    expect(await b.exited).toBe(0);
    expect(b.output()).toContain(`pid ${process.pid} is now another process; taking it over`);
  });

  it('gives up after the bounded wait, naming the holder and the lock file', async () => {
    const dir = scratch();
    const release = join(dir, 'release');
    const a = holder(dir, 'A', { release });
    await until(() => log(dir).includes('A in'), 'A holding the lock');
    const b = holder(dir, 'B', { env: { SFU_SETUP_LOCK_TIMEOUT: '1' } });
    expect(await b.exited).not.toBe(0);
    expect(b.output()).toMatch(/gave up after \d+ s waiting for .*test\.lock \(held by pid \d+, a test holder A/);
    expect(b.output()).toContain('If no set-up is running, delete that file');
    writeFileSync(release, '');
    expect(await a.exited).toBe(0);
    expect(log(dir)).toBe('A in\nA out\n');
  });
});
