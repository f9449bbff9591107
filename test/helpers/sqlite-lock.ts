import { spawn } from 'node:child_process';

export interface SqliteWriteLock {
  /** The lock holder's process id. */
  readonly pid: number;
  /** Ends the lock (ROLLBACK, close) and resolves once the holder has exited. */
  release(): Promise<void>;
  /** SIGKILL to the holder (for cleanups; the lock goes with it). */
  kill(): void;
}

/**
 * Another process holding the SQLite write lock (BEGIN IMMEDIATE) on `file` until released, as a
 * backup tool or an operator's sqlite3 shell would: resolves once the lock is taken.
 */
export async function holdSqliteWriteLock(file: string): Promise<SqliteWriteLock> {
  const child = spawn(process.execPath, ['-e', `
    const { DatabaseSync } = require('node:sqlite');
    const db = new DatabaseSync(${JSON.stringify(file)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    process.stdin.resume();
    process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before locking`)));
  });
  return {
    pid: child.pid!,
    async release() {
      child.stdin!.end();
      await exited;
    },
    kill() { child.kill('SIGKILL'); },
  };
}
