import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { ensureDebianPackage, skipLoudly } from './debian-package.ts';

export interface TestCoturn {
  /** turn:127.0.0.1:<port>?transport=udp and ?transport=tcp */
  readonly urls: string[];
  /** The static-auth-secret (random, 48 characters), shared with the SFU's media.turn.secret. */
  readonly secret: string;
  readonly port: number;
  /** Everything coturn has logged so far (verbose). */
  log(): string;
  stop(): void;
}

const BIN = '/usr/bin/turnserver';

const SUITE = 'The TURN (coturn) tests';

/**
 * A real throwaway coturn (`turnserver`) on 127.0.0.1 only: TURN REST credentials
 * (`use-auth-secret` with a random `static-auth-secret`), plain UDP and TCP listeners on a free
 * port (no TLS, no DTLS, no CLI, no web admin), relays on 127.0.0.1 with loopback peers allowed
 * (the SFU under test announces 127.0.0.1). A child of this process, stopped after. Installed with
 * apt-get when missing and running as root. Returns undefined, after a loud warning, when it cannot.
 */
export async function startCoturn(): Promise<TestCoturn | undefined> {
  if (!ensureDebianPackage('coturn', BIN, SUITE)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sfu-coturn-'));
  const secret = randomBytes(36).toString('base64url');
  const port = await freePort();
  const altPort = await freePort();
  const cliPort = await freePort();
  // The secret goes in a 0600 config file, never on a command line that ps shows.
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(conf, [
    'listening-ip=127.0.0.1', 'relay-ip=127.0.0.1', `listening-port=${port}`, `alt-listening-port=${altPort}`,
    'use-auth-secret', `static-auth-secret=${secret}`, 'realm=sfu.test', 'fingerprint',
    'no-tls', 'no-dtls', 'no-cli', `cli-port=${cliPort}`, 'allow-loopback-peers', 'no-multicast-peers',
    // Relay ports from a high range the tests' freePort (ephemeral ports) rarely hands out.
    'min-port=20000', 'max-port=20999',
    `userdb=${join(dir, 'turndb')}`, `pidfile=${join(dir, 'turnserver.pid')}`, 'verbose', 'log-file=stdout', 'simple-log',
  ].join('\n') + '\n', { mode: 0o600 });

  let out = '';
  const child: ChildProcess = spawn(BIN, ['-c', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const cleanup = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`turnserver did not start in time:\n${out.slice(-2000)}`)), 10_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        // Logged (4.6) once the relay ports, the UDP and TCP listeners and the relay threads are up.
        if (/UDP listener opened on: ?127\.0\.0\.1:/.test(out) && /Total General servers: \d+/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => { clearTimeout(t); reject(new Error(`turnserver exited (${code ?? signal}):\n${out.slice(-2000)}`)); });
    });
  } catch (err) {
    process.removeListener('exit', cleanup);
    cleanup();
    return skipLoudly(SUITE, `turnserver could not be started: ${(err as Error).message}`);
  }
  return {
    urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
    secret,
    port,
    log: () => out,
    stop() {
      process.removeListener('exit', cleanup);
      cleanup();
    },
  };
}
