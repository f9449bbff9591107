import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from './server.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface ServerProcess {
  readonly child: ChildProcess;
  /** What the banner says it listens on: http://127.0.0.1:PORT unless SFU_HTTP_HOST is set. */
  readonly url: string;
  /** url's signalling endpoint: ws://HOST:PORT/rtc */
  readonly wsUrl: string;
  /** stdout and stderr so far (the JSON log lines). */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (a drain), resolved with the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The real entry point (`node src/main.ts`) in a child process, configured by SFU_* variables (an
 * undefined one is removed from the inherited environment). `wrap` runs it under a command that
 * execs it (e.g. `ip netns exec NAME`, test/helpers/netns.ts): the child is still the server itself.
 */
export async function startServerProcess(
  env: Record<string, string | undefined>,
  timeoutMs = 30_000,
  opts: { wrap?: readonly string[] } = {},
): Promise<ServerProcess> {
  const [command, ...args] = [...(opts.wrap ?? []), process.execPath, 'src/main.ts'];
  const child = spawn(command!, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // A server that fails to come up is not left running (nor, under `wrap`, inside a namespace).
  const giveUp = (err: unknown): never => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not listen in time:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        child.stdout!.off('data', check);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => { clearTimeout(t); reject(new Error(`server exited (${code ?? signal}) before listening:\n${out}`)); });
  }).catch(giveUp);
  // The line is printed just before the signal handlers are installed: one HTTP answer later they are.
  const health = await fetch(`${url}/healthz`).catch(giveUp);
  if (health.status !== 200) giveUp(new Error(`/healthz answered ${health.status}`));
  return {
    child, url, wsUrl: `${url.replace(/^http/, 'ws')}/rtc`, exited, output: () => out,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Tmpfs {
  readonly dir: string;
  /** Fills every free byte with a filler file (the filesystem answers ENOSPC afterwards). */
  fill(): void;
  /** Removes the filler. */
  free(): void;
  unmount(): void;
}

/**
 * A small tmpfs mounted for the test (needs root), or the reason it cannot be: a full disk on
 * demand (fill / free).
 */
export function mountTmpfs(size: string): Tmpfs | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sfu-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}); these tests need root and mount permission` };
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      try {
        for (const chunk of [1 << 20, 64 << 10, 4096, 512, 1]) {
          const buf = Buffer.alloc(chunk, 0x66);
          for (;;) {
            try {
              writeSync(fd, buf);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      const st = statfsSync(dir);
      if (st.bavail !== 0) throw new Error(`tmpfs not full: ${st.bavail} blocks free`);
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The SFU_* variables of a one-worker server on 127.0.0.1 (free HTTP and RTC ports, the test
 * credentials, a 1 s drain) with `dataDir`, the store at `storeUrl` ('' for SQLite in the data dir)
 * and these records keys; `extra` adds or overrides variables.
 */
export function loopbackServerEnv(
  o: { dataDir: string; storeUrl?: string; keys: readonly { id: string; key: Buffer | string }[]; logLevel?: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SFU_DATA_DIR: o.dataDir, SFU_STORE_URL: o.storeUrl ?? '', SFU_HTTP_HOST: '127.0.0.1', SFU_HTTP_PORT: '0', SFU_RTC_PORT: '0', SFU_WORKERS: '1',
    SFU_LISTEN_IP: '127.0.0.1', SFU_ANNOUNCED_IP: '127.0.0.1', SFU_JWT_SECRET: TEST_SECRET, SFU_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    SFU_RECORDS_KEYS: JSON.stringify(o.keys.map((k) => ({ id: k.id, key: typeof k.key === 'string' ? k.key : k.key.toString('base64') }))),
    SFU_LOG_LEVEL: process.env.SFU_TEST_LOG_LEVEL ?? o.logLevel ?? 'error', SFU_DRAIN_TIMEOUT_SECONDS: '1',
    ...extra,
  };
}
