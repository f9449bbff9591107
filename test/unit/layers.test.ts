import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The dependency rule of README.md ("Layout"), checked on every import in src/: a module may
// import its own layer and the layers listed for it, nothing else. Both static imports and
// `import(...)` / `export ... from` count; type-only imports count too (a type is a dependency).

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Layer -> the layers it may import (besides itself). Top-level files are layers of their own. */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  domain: ['shared'],
  config: ['shared', 'domain'],
  telemetry: ['shared', 'domain', 'config'],
  media: ['shared', 'domain', 'config', 'telemetry'],
  store: ['shared', 'domain', 'config', 'telemetry'],
  auth: ['shared', 'domain', 'config', 'telemetry'],
  room: ['shared', 'domain', 'config', 'telemetry', 'media', 'auth'],
  safety: ['shared', 'domain', 'config', 'telemetry', 'media', 'auth', 'store', 'room'],
  /** Several nodes as one service (Redis); beside safety: neither imports the other. */
  cluster: ['shared', 'domain', 'config', 'telemetry', 'media', 'auth', 'store', 'room'],
  signalling: ['shared', 'domain', 'config', 'telemetry', 'media', 'auth', 'store', 'room', 'safety', 'cluster'],
  http: ['shared', 'domain', 'config', 'telemetry', 'media', 'auth', 'store', 'room', 'safety', 'cluster'],
  /** Shutdown stages and their deadlines (used by app.ts and main.ts). */
  'shutdown.ts': ['shared', 'domain', 'config', 'telemetry'],
  'app.ts': ['shared', 'domain', 'config', 'telemetry', 'media', 'auth', 'store', 'room', 'safety', 'cluster', 'signalling', 'http', 'shutdown.ts'],
  'main.ts': ['shared', 'domain', 'config', 'telemetry', 'auth', 'app.ts', 'shutdown.ts'],
  // The browser client shares only plain types and tables with the server.
  client: ['shared', 'domain'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string): string => relative(SRC, file).split('/')[0]!;

/** Every relative module specifier in a file (import/export ... from '...', import('...')). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out.filter((s) => s.startsWith('.'));
}

export function violations(): string[] {
  const found: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC + '/')) continue;
      const to = layerOf(target);
      if (to === from) continue;
      if (!allowed || !allowed.includes(to)) found.push(`${relative(SRC, file)} -> ${relative(SRC, target)} (${from} may not import ${to})`);
    }
  }
  return found;
}

describe('layering', () => {
  it('every src/ layer is in the rule table', () => {
    const layers = new Set(files(SRC).map(layerOf));
    expect([...layers].filter((l) => !(l in ALLOWED))).toEqual([]);
  });

  it('no import crosses the dependency rule', () => {
    expect(violations()).toEqual([]);
  });

  it('the checker sees a violation when there is one', () => {
    expect(specifiers("import type { X } from '../room/room.ts';\nexport { Y } from './y.ts';\nconst z = await import('../a.ts');"))
      .toEqual(['../room/room.ts', './y.ts', '../a.ts']);
  });
});
