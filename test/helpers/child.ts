import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { until } from './until.ts';

export interface Child {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (128 + signal number style is not applied: null on a signal). */
  readonly exited: Promise<number | null>;
}

/** A child process with its output collected (stdout and stderr interleaved as they arrive). */
export function startChild(command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** A service started by startAndWait, ready. */
export interface Service {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** SIGTERM (then SIGKILL after `killAfterMs`, when given), waits for the exit, removes its directory. */
  stop(): Promise<void>;
}

export interface StartAndWaitOptions {
  /** Its working directory, holding its files: removed when it stops (or this process exits). */
  readonly dir: string;
  /** Ready when this resolves true (polled by `until`). */
  readonly ready: () => Promise<boolean>;
  /** What is waited for, for the timeout's message ("Prometheus to be ready"). */
  readonly what: string;
  readonly timeoutMs: number;
  /** More to say when it exits or times out before it is ready (e.g. its error log). */
  readonly detail?: () => string;
  /** After SIGTERM in stop(), SIGKILL after this long (default: wait for the exit). */
  readonly killAfterMs?: number;
}

/**
 * Starts `command` as a child of this process (stdout and stderr collected) and waits until it is
 * ready. Exiting first fails the wait (naming its exit and output); on any failure it is stopped
 * and its directory removed before the error is thrown. SIGTERM (never SIGKILL first: nginx's
 * master stops its workers on SIGTERM) and its directory removed when this process exits, unless
 * stopped before.
 */
export async function startAndWait(command: string, args: readonly string[], o: StartAndWaitOptions): Promise<Service> {
  let out = '';
  const child = spawn(command, args, { cwd: o.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const cleanup = () => {
    if (running()) child.kill('SIGTERM');
    rmSync(o.dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  const name = basename(command);
  try {
    await until(async () => {
      if (!running()) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${out}${o.detail?.() ?? ''}`);
      return o.ready();
    }, o.what, o.timeoutMs).catch((err: unknown) => {
      const detail = running() ? o.detail?.() : undefined;
      throw detail ? new Error(`${(err as Error).message}\n${detail}`) : err;
    });
  } catch (err) {
    process.removeListener('exit', cleanup);
    cleanup();
    await exited;
    throw err;
  }
  return {
    child,
    output: () => out,
    async stop() {
      process.removeListener('exit', cleanup);
      if (running()) child.kill('SIGTERM');
      const killer = o.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
      await exited;
      clearTimeout(killer);
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}
