/**
 * bench/media/raw-mediasoup.ts as a child process: spawned with a spec (and extra environment, e.g.
 * another mediasoup release and its worker), read line by line, closed with SIGTERM.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A sleep that does not keep the process alive (for time limits that usually lose the race). */
const limit = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export interface RawChild {
  readonly pid: number;
  /** The next JSON line it prints; rejects when it exits first or after `timeoutMs`. */
  next<T>(timeoutMs: number): Promise<T>;
  close(): Promise<void>;
}

export function spawnRaw(spec: object, env: NodeJS.ProcessEnv = {}): RawChild {
  const child = spawn(process.execPath, [new URL('./raw-mediasoup.ts', import.meta.url).pathname, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (waiting) { const w = waiting; waiting = undefined; w(l); } else lines.push(l);
  });
  return {
    pid: child.pid!,
    async next<T>(timeoutMs: number): Promise<T> {
      const queued = lines.shift();
      const line = queued ?? await Promise.race([
        new Promise<string>((resolve) => { waiting = resolve; }),
        exited.then(() => { throw new Error('raw-mediasoup exited'); }),
        limit(timeoutMs).then(() => { throw new Error(`raw-mediasoup printed nothing in ${timeoutMs} ms`); }),
      ]);
      return JSON.parse(line) as T;
    },
    async close() {
      child.kill('SIGTERM');
      await Promise.race([exited, limit(4000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
