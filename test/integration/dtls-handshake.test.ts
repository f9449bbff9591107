import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDtlsHandshake, describe as describeResult } from '../../scripts/setup/dtls-check.mjs';

/**
 * A real ICE + DTLS 1.2 handshake (openssl s_client through a UDP relay, no browser) against the worker
 * the tests use ($MEDIASOUP_WORKER_BIN, set by scripts/bootstrap.mjs or /usr/local/bin/vt): the check
 * the set-up runs before caching a worker (scripts/setup/dtls-check.mjs). The first offline 3.27.1
 * build started fine and died with SIGSEGV at every DTLS ServerHello (docs/worker-build.md).
 */
const workerBin = process.env.MEDIASOUP_WORKER_BIN || undefined;
const root = join(import.meta.dirname, '../..');

describe('ICE + DTLS handshake with the mediasoup worker', () => {
  it('connects, and the worker is alive afterwards', async () => {
    const r = await checkDtlsHandshake({ workerBin });
    expect(r, `${describeResult(r)}\n${r.opensslLog}`).toMatchObject({
      ok: true, reason: '', iceState: 'completed', dtlsState: 'connected', workerAlive: true, workerDied: undefined,
    });
  });

  it('fails (not connected) when connect() was given the wrong client fingerprint; the worker survives', async () => {
    const r = await checkDtlsHandshake({ workerBin, wrongFingerprint: true });
    expect(r, describeResult(r)).toMatchObject({ ok: false, dtlsState: 'failed', workerAlive: true, workerDied: undefined });
  });

  it('is what the set-up runs: the script exits 0 and says so', () => {
    const p = spawnSync(process.execPath, [join(root, 'scripts', 'setup', 'dtls-check.mjs')], {
      cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, VERIFY_WORKER_BIN: workerBin ?? '' },
    });
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/ICE \+ DTLS 1\.2 handshake with openssl s_client: connected in \d+ ms, worker alive/);
  });
});
