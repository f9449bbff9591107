// A file lock for set-up steps that two runs at once would duplicate or trample (the worker build,
// the Node download, npm ci, the client bundle). Node built-ins only.
//
// The lock is a file created atomically with its content: the owner record ({pid, host, started,
// what, token}) is written to a private temporary file, then hard-linked to the lock's name
// (link() fails with EEXIST when the lock is held), so a waiter never sees a lock without its owner.
// A lock whose holder is gone (same host, no such pid, or the pid now belongs to a process started
// later) is stale: a waiter takes it over under a short take-over lock, so two waiters never both
// remove it. Waiting is bounded ($SFU_SETUP_LOCK_TIMEOUT seconds, default 3600: the offline worker build
// took 35 minutes instead of 5.5 on a 2-core box at load 15-20) and said as it goes.
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { say } from './common.mjs';

const POLL_MS = 200;
const PROGRESS_EVERY_MS = 30_000;
/** A take-over lock older than this was left by a process that died in its few-millisecond window. */
const TAKEOVER_STALE_MS = 10_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The start time of a process in clock ticks since boot (Linux /proc), or undefined elsewhere or when it is gone. */
export function processStart(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM'; // exists, owned by another user
  }
}

function readOwner(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return null; // released meanwhile
    return undefined; // unreadable: not ours to judge, treat as held
  }
}

/** Why the lock's holder no longer holds it, or undefined while it may (another host: assumed alive). */
export function staleReason(owner) {
  if (!owner || owner.host !== hostname() || !Number.isInteger(owner.pid)) return undefined;
  if (!alive(owner.pid)) return `its holder (pid ${owner.pid}) is gone`;
  const start = processStart(owner.pid);
  if (owner.start !== undefined && start !== undefined && start !== owner.start) return `pid ${owner.pid} is now another process`;
  return undefined;
}

function tryCreate(path, owner) {
  const tmp = `${path}.${owner.token}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(owner)}\n`);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes the lock when it is still the stale one we saw (same token), under a take-over lock. */
function takeOver(path, seen, me) {
  const guard = `${path}.takeover`;
  if (!tryCreate(guard, me)) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > TAKEOVER_STALE_MS) rmSync(guard, { force: true });
    } catch { /* gone meanwhile */ }
    return;
  }
  try {
    if (readOwner(path)?.token === seen.token) unlinkSync(path);
  } finally {
    rmSync(guard, { force: true });
  }
}

const describe = (o) => `pid ${o.pid}${o.host !== hostname() ? ` on ${o.host}` : ''}, ${o.what}, since ${o.started}`;

/**
 * Runs fn while holding the lock `<dir>/<name>.lock`; waits (saying so) while another process holds
 * it, takes over a stale one, and gives up after the bounded wait with an error naming the holder.
 */
export async function withLock(dir, name, what, fn, opts = {}) {
  const timeoutMs = opts.timeoutMs ?? Number(process.env.SFU_SETUP_LOCK_TIMEOUT ?? 3600) * 1000;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const me = {
    pid: process.pid, host: hostname(), start: processStart(process.pid), what,
    started: new Date().toISOString(), token: randomBytes(8).toString('hex'),
  };
  const began = Date.now();
  let told = 0;
  while (!tryCreate(path, me)) {
    const owner = readOwner(path);
    if (owner === null) continue;
    const stale = staleReason(owner);
    if (stale) {
      say(`lock ${path}: ${stale}; taking it over`);
      takeOver(path, owner, me);
      continue;
    }
    const waited = Date.now() - began;
    if (waited >= timeoutMs) {
      throw new Error(`gave up after ${Math.round(waited / 1000)} s waiting for ${path} (held by ${owner ? describe(owner) : 'an unreadable owner record'}). `
        + `If no set-up is running, delete that file; SFU_SETUP_LOCK_TIMEOUT sets the wait in seconds`);
    }
    if (told === 0 || waited - told >= PROGRESS_EVERY_MS) {
      say(told === 0
        ? `waiting for another set-up (${owner ? describe(owner) : 'owner unreadable'}) to finish: lock ${path}`
        : `still waiting for ${path} (${Math.round(waited / 1000)} s)`);
      told = waited || 1;
    }
    await sleep(POLL_MS);
  }
  if (told) say(`lock ${path}: ours after ${Math.round((Date.now() - began) / 1000)} s`);
  try {
    return await fn();
  } finally {
    if (readOwner(path)?.token === me.token) rmSync(path, { force: true });
  }
}
