import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` refuses a lock file that lacks a package some package may install, also one for another
 * platform ("Missing: @rollup/rollup-darwin-arm64@4.68.7 from lock file"): a lock written by an npm
 * or a registry mirror that skipped them works on the machine that wrote it and fails on a Mac, in
 * CI and in the Dockerfile. These checks keep that from coming back silently.
 */
const ROOT = join(import.meta.dirname, '../..');
interface Entry {
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, Entry> };
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Entry;

/** Where Node (and npm) would find `name` from the package at `from`: its own node_modules, then each parent's. */
function resolve(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut === -1 ? '' : dir.slice(0, cut);
  }
}

const exact = (spec: string) => /^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec);

describe('package-lock.json', () => {
  it('is a lockfileVersion 3 lock with package.json\'s dependencies at its root', () => {
    expect(lock.lockfileVersion).toBe(3);
    const root = lock.packages[''];
    expect(root?.dependencies ?? {}).toEqual(pkg.dependencies ?? {});
    expect(root?.devDependencies ?? {}).toEqual(pkg.devDependencies ?? {});
  });

  const withOptional = Object.entries(lock.packages).filter(([, e]) => e.optionalDependencies && Object.keys(e.optionalDependencies).length > 0);

  it('has packages with platform-specific optional dependencies (esbuild, rollup)', () => {
    const names = withOptional.map(([p]) => p);
    expect(names).toContain('node_modules/esbuild');
    expect(names).toContain('node_modules/rollup');
  });

  it.each(withOptional.map(([p, e]) => [p, e] as const))('records every optional dependency of %s, at the declared version', (path, entry) => {
    const missing: string[] = [];
    for (const [name, spec] of Object.entries(entry.optionalDependencies!)) {
      const found = resolve(path, name);
      if (!found) missing.push(`${name}@${spec}`);
      else if (exact(spec) && lock.packages[found]!.version !== spec) missing.push(`${name}@${spec} (lock has ${lock.packages[found]!.version})`);
    }
    expect(missing, `missing from package-lock.json: regenerate it with Node 24's npm (npm install --package-lock-only --ignore-scripts)`).toEqual([]);
  });
});

/**
 * What `npm ci` itself says, for the platforms developers and images use: a dry run (nothing
 * fetched or written; --offline: the lock file alone decides) in a directory holding only
 * package.json and package-lock.json. Node 24's npm (11.x) has --os and --cpu.
 */
describe('npm ci --dry-run accepts package-lock.json', () => {
  const PLATFORMS = [['linux', 'x64'], ['linux', 'arm64'], ['darwin', 'arm64'], ['darwin', 'x64'], ['win32', 'x64']] as const;
  it.each(PLATFORMS)('--os %s --cpu %s', (os, cpu) => {
    const dir = mkdtempSync(join(tmpdir(), 'sfu-npm-ci-'));
    try {
      for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
      const r = spawnSync('npm', ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--os', os, '--cpu', cpu], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/added \d+ packages/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
