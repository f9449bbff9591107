#!/usr/bin/env node
// Bundles the browser client: src/client/main.ts -> dist/client/app.js (the session page) and
// src/client/desk.ts -> dist/client/desk.js (the safety desk page), src/client/e2ee-worker.ts ->
// dist/client/e2ee-worker.js (the end-to-end encryption worker, loaded by the session page), each with its .map, and copies
// the pages' static files (index.html, desk.html, style.css, ...) beside them. The server serves
// dist/client at /.
//
//   node scripts/build-client.mjs [--force]
//
// Skips the work when every output is newer than every input (the bundle's own inputs as esbuild
// recorded them, the static files, this script). Prints one line, prefixed [client], either way.
// Plain JavaScript so it runs on any Node from 20 up, before TypeScript support is known.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src', 'client');
const outDir = join(root, 'dist', 'client');
/** Entry module -> bundle name (dist/client/<name>.js). */
const ENTRIES = [
  { in: join(srcDir, 'main.ts'), out: 'app' },
  { in: join(srcDir, 'desk.ts'), out: 'desk' },
  // A worker script needs its own bundle: new Worker('/e2ee-worker.js').
  { in: join(srcDir, 'e2ee-worker.ts'), out: 'e2ee-worker' },
];
const bundles = ENTRIES.map((e) => join(outDir, `${e.out}.js`));
/** The bundle's inputs from the last build (esbuild's metafile), for the freshness check. */
const manifest = join(outDir, '.build-inputs.json');
const STATIC_EXTENSIONS = new Set(['.html', '.css', '.svg', '.ico', '.png']);
const force = process.argv.includes('--force');

const rel = (p) => relative(root, p) || '.';
const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
};

function staticFiles() {
  return readdirSync(srcDir).filter((f) => STATIC_EXTENSIONS.has(extname(f))).map((f) => join(srcDir, f));
}

/** Why a rebuild is needed, or undefined when the outputs are fresh. */
function staleReason() {
  if (force) return '--force';
  if (!existsSync(manifest)) return 'no previous build';
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(manifest, 'utf8')).inputs;
  } catch {
    return 'unreadable build manifest';
  }
  if (!Array.isArray(recorded)) return 'unreadable build manifest';
  const statics = staticFiles();
  const outputs = [...bundles.flatMap((b) => [b, `${b}.map`]), manifest, ...statics.map((f) => join(outDir, basename(f)))];
  let oldestOutput = Infinity;
  for (const o of outputs) {
    const t = mtime(o);
    if (t === undefined) return `${rel(o)} is missing`;
    oldestOutput = Math.min(oldestOutput, t);
  }
  // Every file in src/client counts too, so a new module or a changed tsconfig is never missed.
  const srcFiles = readdirSync(srcDir, { recursive: true }).map((f) => join(srcDir, String(f)));
  const inputs = new Set([...recorded.map((f) => resolve(root, f)), ...srcFiles, fileURLToPath(import.meta.url)]);
  for (const i of inputs) {
    const t = mtime(i);
    if (t === undefined) return `${rel(i)} is gone`;
    if (t >= oldestOutput) return `${rel(i)} changed`;
  }
  return undefined;
}

/** Writes through a temporary file, so a server never serves a half-written bundle. */
function writeAtomically(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

async function build(reason) {
  const started = performance.now();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: ENTRIES,
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    minify: true,
    keepNames: true,
    sourcemap: true,
    metafile: true,
    write: false,
    logLevel: 'warning',
    absWorkingDir: root,
  });
  mkdirSync(outDir, { recursive: true });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  for (const f of staticFiles()) writeAtomically(join(outDir, basename(f)), readFileSync(f));
  const inputs = Object.keys(result.metafile.inputs).sort();
  writeAtomically(manifest, `${JSON.stringify({ inputs }, null, 1)}\n`);
  const sizes = bundles.map((b) => `${rel(b)} ${Math.round(statSync(b).size / 1024)} KiB`).join(', ');
  const ms = Math.round(performance.now() - started);
  console.log(`[client] built ${sizes} (${inputs.length} modules) in ${ms} ms (${reason})`);
}

try {
  const reason = staleReason();
  if (reason === undefined) {
    console.log(`[client] ${rel(outDir)} is up to date`);
  } else {
    await build(reason);
  }
} catch (err) {
  console.error(`[client] build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
