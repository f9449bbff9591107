import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { until } from './until.ts';
import { startAndWait, type Service } from './child.ts';
import { ensureDebianPackage, skipLoudly } from './debian-package.ts';

export interface TestNginx {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** The self-signed certificate nginx serves now (PEM; CN=localhost, SAN localhost and 127.0.0.1): a client's CA. */
  cert(): string;
  /** SHA-256 fingerprint of the certificate nginx serves now. */
  fingerprint(): string;
  /** A new certificate into the same files and `nginx -s reload` (SIGHUP), as an operator renewing one. */
  renewCertificate(): Promise<void>;
  /** What nginx has logged: its access log (format sfu_no_query) and error log. */
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

const BIN = '/usr/sbin/nginx';
const SUITE = 'The TLS reverse proxy (nginx) tests';
/** The one nginx configuration for the SFU: what docs/operations.md shows and operators install. */
export const NGINX_TEMPLATE = new URL('../../deploy/nginx/sfu.conf', import.meta.url);

/** Replaces `from` in `text`, which must occur exactly once (the template and the test cannot drift apart silently). */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`deploy/nginx/sfu.conf: expected exactly one "${from}"`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** A throwaway self-signed P-256 certificate for localhost and 127.0.0.1, valid one day. */
function makeCertificate(certFile: string, keyFile: string): void {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
    '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.error?.message ?? r.stderr}`);
  chmodSync(keyFile, 0o600);
}

/** deploy/nginx/sfu.conf for this test: listen on 127.0.0.1:port, proxy to `upstream`, certificate and log in `dir`. */
export function nginxSiteConfig(upstream: string, port: number, dir: string): string {
  let conf = readFileSync(NGINX_TEMPLATE, 'utf8');
  conf = replaceOnce(conf, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
  conf = replaceOnce(conf, 'server 127.0.0.1:3000;', `server ${upstream};`);
  conf = replaceOnce(conf, '/etc/ssl/sfu/fullchain.pem', join(dir, 'cert.pem'));
  conf = replaceOnce(conf, '/etc/ssl/sfu/privkey.pem', join(dir, 'key.pem'));
  conf = replaceOnce(conf, '/var/log/nginx/sfu-access.log', join(dir, 'access.log'));
  return conf;
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Debian's nginx in front of the SFU at `upstream` (host:port on 127.0.0.1): deploy/nginx/sfu.conf
 * inside a minimal main configuration of the test's own (pid, logs and temp paths in a temp dir;
 * workers as nobody when this is root), TLS with a throwaway self-signed certificate on a free
 * 127.0.0.1 port. `nginx -g 'daemon off;'`, a child of this process, stopped after. Installed with
 * apt-get when missing and running as root. Returns undefined, after a loud warning, when it cannot.
 */
export async function startNginx(upstream: string): Promise<TestNginx | undefined> {
  if (!ensureDebianPackage('nginx', BIN, SUITE)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sfu-nginx-'));
  // Workers (as nobody when root) create their temp dirs under it; only the master reads the key.
  chmodSync(dir, 0o711);
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const certFile = join(dir, 'cert.pem');
  makeCertificate(certFile, join(dir, 'key.pem'));
  writeFileSync(join(dir, 'sfu.conf'), nginxSiteConfig(upstream, port, dir));
  const root = process.getuid?.() === 0;
  const main = join(dir, 'nginx.conf');
  writeFileSync(main, [
    ...(root ? ['user nobody nogroup;'] : []),
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} info;`,
    'events { worker_connections 256; }',
    'http {',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, 'tmp', t)};`),
    `  access_log ${join(dir, 'access-other.log')};`,
    `  include ${join(dir, 'sfu.conf')};`,
    '}',
  ].join('\n') + '\n');
  // -e: the error log before the configuration is read (Debian's default is /var/log/nginx/error.log).
  const args = ['-c', main, '-e', join(dir, 'error.log'), '-p', dir];
  const check = spawnSync(BIN, [...args, '-t'], { encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx -t rejected deploy/nginx/sfu.conf:\n${check.stderr}`);
  }
  const readLog = (f: string) => { try { return readFileSync(join(dir, f), 'utf8'); } catch { return ''; } };
  let nginx: Service;
  try {
    // Stopped with SIGTERM (fast shutdown): the master stops its workers before exiting; SIGKILL would orphan them.
    nginx = await startAndWait(BIN, [...args, '-g', 'daemon off;'], {
      dir, ready: () => acceptsConnections(port), what: 'nginx to listen', timeoutMs: 10_000, detail: () => readLog('error.log'),
    });
  } catch (err) {
    return skipLoudly(SUITE, `nginx could not be started: ${(err as Error).message}`);
  }
  const cert = () => readFileSync(certFile, 'utf8');
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    cert,
    fingerprint: () => new X509Certificate(cert()).fingerprint256,
    async renewCertificate() {
      makeCertificate(certFile, join(dir, 'key.pem'));
      const before = readLog('error.log').length;
      const r = spawnSync(BIN, [...args, '-s', 'reload'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`nginx -s reload failed: ${r.stderr}`);
      // The master logs "reconfiguring" and starts new workers with the new certificate.
      await until(() => readLog('error.log').slice(before).includes('start worker process'), 'nginx to start workers after the reload', 5000);
    },
    accessLog: () => readLog('access.log'),
    errorLog: () => readLog('error.log'),
    stop: () => nginx.stop(),
  };
}
