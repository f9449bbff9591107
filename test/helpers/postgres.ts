import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  readonly url: string;
  stop(): void;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function loud(msg: string): undefined {
  console.warn(`\n${'!'.repeat(78)}\n!! ${msg}\n!! The PostgreSQL store adapter suite is SKIPPED.\n${'!'.repeat(78)}\n`);
  return undefined;
}

/**
 * A real throwaway PostgreSQL on 127.0.0.1 (Debian's server package, installed when missing and
 * running as root). Runs as the `postgres` system user in a temp dir; never listens elsewhere.
 */
export async function startPostgres(): Promise<TestPostgres | undefined> {
  let bin = binDir();
  const root = process.getuid?.() === 0;
  if (!bin && root) {
    console.info('[test] installing PostgreSQL from Debian (apt-get install postgresql) for the store suite');
    let r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
      r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    }
    bin = binDir();
  }
  if (!bin) return loud(root ? 'PostgreSQL could not be installed with apt-get.' : 'PostgreSQL is not installed and this is not root.');
  const asPg = root ? (cmd: string, args: string[]) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]] as const : (cmd: string, args: string[]) => [cmd, args] as const;
  const dir = mkdtempSync(join(tmpdir(), 'sfu-pg-'));
  if (root) {
    const pgUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const pgGid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, pgUid, pgGid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  const run = (cmd: string, args: string[]) => {
    const [c, a] = asPg(join(bin!, cmd), args);
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
    run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=on`, 'start']);
    run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'sfu_test']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return loud(`PostgreSQL could not be started: ${(err as Error).message}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/sfu_test`,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
