import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint.ts';
import { freePort } from '../helpers/free-port.ts';
import { ensurePodman, podman, podmanOk, runBounded } from '../helpers/podman.ts';
import { ensureStandInBase } from '../helpers/stand-in-base.ts';
import { until } from '../helpers/until.ts';
import { opusParameters, RtcClient } from '../helpers/ws-client.ts';

/**
 * The Dockerfile, built and run as an operator would (docs/operations.md, "Container image"), with
 * Debian's podman (runc, host networking; test/helpers/podman.ts) on a stand-in for
 * node:24-bookworm-slim (no registry is reachable here; test/helpers/stand-in-base.ts), from
 * artifacts the project's set-up prepared on the host (ARTIFACTS=prebuilt: npm inside a build has no
 * registry here). Slow (a minute or more), so opt-in: SFU_TEST_CONTAINER=1, which .ci/run sets.
 * Under the flag nothing is skipped: a podman that cannot work fails the test.
 */
const ENABLED = process.env.SFU_TEST_CONTAINER === '1';
const ROOT = join(import.meta.dirname, '../..');
const UID = 10001; // the image's sfu user (Dockerfile)
const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
const IMAGE = `localhost/telepractice-sfu-test:${id}`;
const RUNTIME_BASE_CACHE = 'localhost/telepractice-sfu-test-cache:runtime-base';
const containers: string[] = [];
const dirs: string[] = [];
const secret = randomBytes(32).toString('base64url');
const timings: Record<string, number> = {};
/** Every image podman had before the build (undefined until taken): the build's intermediate images are the new untagged ones. */
let imagesBefore: Set<string> | undefined;
const imageIds = async (filter: string[] = []) =>
  new Set((await podmanOk(['images', '-a', '-q', '--no-trunc', ...filter], 30_000)).stdout.split('\n').filter(Boolean));

/** A directory the image's non-root user owns, as an operator prepares a bind-mounted /data. */
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sfu-container-data-'));
  dirs.push(d);
  chownSync(d, UID, UID);
  return d;
}

/** `podman run` arguments every container here shares: its own name, host networking, the data volume, loopback only. */
function runArgs(name: string, data: string, env: Record<string, string>): string[] {
  containers.push(name);
  return [
    '--name', name, '--network=host', '-v', `${data}:/data`,
    ...Object.entries({ SFU_HTTP_HOST: '127.0.0.1', SFU_LISTEN_IP: '127.0.0.1', SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LOG_LEVEL: 'info', ...env })
      .flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    IMAGE,
  ];
}

describe.skipIf(!ENABLED)('container image (Dockerfile, SFU_TEST_CONTAINER=1)', () => {
  beforeAll(async () => {
    let t = Date.now();
    ensurePodman();
    const base = await ensureStandInBase();
    timings.standInBaseMs = Date.now() - t;

    t = Date.now();
    const prep = await runBounded(process.execPath, ['scripts/image-artifacts.mjs'], { cwd: ROOT, timeoutMs: 15 * 60_000 });
    if (prep.code !== 0) throw new Error(`scripts/image-artifacts.mjs failed (${prep.code ?? prep.signal}):\n${prep.stdout.slice(-3000)}\n${prep.stderr.slice(-3000)}`);
    timings.artifactsMs = Date.now() - t;

    t = Date.now();
    // --format docker keeps HEALTHCHECK (the OCI format has none).
    const build = ['build', '--network=host', '--format', 'docker', '--build-arg', `BASE_IMAGE=${base}`, '--build-arg', 'ARTIFACTS=prebuilt', '-f', 'Dockerfile'];
    // The runtime-base stage (apt-get of tini and the worker's libraries) is kept under a name of its
    // own as a cache for the next run; the image it replaces, if the Dockerfile changed, goes.
    const cachedBefore = (await podman(['image', 'inspect', '--format', '{{.Id}}', RUNTIME_BASE_CACHE], 30_000)).stdout.trim();
    await podmanOk([...build, '--target', 'runtime-base', '-t', RUNTIME_BASE_CACHE, ROOT], 10 * 60_000);
    const cachedNow = (await podmanOk(['image', 'inspect', '--format', '{{.Id}}', RUNTIME_BASE_CACHE], 30_000)).stdout.trim();
    if (cachedBefore && cachedBefore !== cachedNow) await podman(['rmi', cachedBefore], 60_000);
    imagesBefore = await imageIds();
    await podmanOk([...build, '-t', IMAGE, ROOT], 10 * 60_000);
    timings.buildMs = Date.now() - t;
  }, 30 * 60_000);

  afterAll(async () => {
    for (const name of containers) await podman(['rm', '-f', '-t', '0', name], 60_000);
    await podman(['rmi', '-f', IMAGE], 60_000);
    // The build's own intermediate images (the prebuilt stage's layers): removing the leaves removes the chain.
    if (imagesBefore) {
      const before = imagesBefore;
      const left = [...await imageIds(['--filter', 'dangling=true'])].filter((i) => !before.has(i));
      if (left.length > 0) await podman(['rmi', ...left], 60_000);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    console.info(`[test] container image timings (ms): ${JSON.stringify(timings)}`);
  }, 120_000);

  it('is configured for production: non-root user, /data volume, health check, tini, SFU_MODE=production', async () => {
    const [inspect] = JSON.parse((await podmanOk(['image', 'inspect', IMAGE], 30_000)).stdout);
    const config = inspect.Config;
    expect(config.User).toBe('sfu');
    expect(Object.keys(config.Volumes ?? {})).toEqual(['/data']);
    expect(config.Env).toEqual(expect.arrayContaining(['SFU_MODE=production', 'SFU_DATA_DIR=/data', 'SFU_HTTP_PORT=3000', 'MEDIASOUP_WORKER_BIN=/opt/mediasoup/mediasoup-worker']));
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '--']);
    expect(config.Cmd).toEqual(['node', 'src/main.ts']);
    // podman keeps a range as one key ("40000-40001/udp"), Docker one key per port: expanded here.
    const exposed = Object.keys(config.ExposedPorts ?? {}).flatMap((k) => {
      const [, from, to, proto] = /^(\d+)(?:-(\d+))?\/(\w+)$/.exec(k)!;
      return Array.from({ length: Number(to ?? from) - Number(from) + 1 }, (_, i) => `${Number(from) + i}/${proto}`);
    });
    expect(exposed.sort()).toEqual(['3000/tcp', '40000/tcp', '40000/udp', '40001/tcp', '40001/udp']);
    expect(inspect.Config.Healthcheck?.Test?.join(' ') ?? inspect.Healthcheck?.Test?.join(' ')).toContain('/healthz');
    // Only what runs under /app, and no npm user configuration (.npmrc) nor repository anywhere but the base
    // image's own npm (looked at as root).
    const look = await podmanOk(['run', '--rm', '--network=host', '--user', '0', '--entrypoint', 'sh', IMAGE, '-c',
      'ls -A /app; echo --; ls -A /app/scripts; echo --; find / -xdev -path /usr/local/lib/node_modules -prune -o \\( -name .npmrc -o -name .git \\) -print'], 60_000);
    const [app, scripts, found] = look.stdout.split('--\n').map((part) => part.split('\n').filter(Boolean));
    expect(app!.sort()).toEqual(['config', 'dist', 'node_modules', 'package.json', 'scripts', 'src']);
    expect(scripts).toEqual(expect.arrayContaining(['admin.ts', 'audit-verify.ts', 'token.ts']));
    expect(found).toEqual([]);
  });

  it('refuses to start without a token key: JWT_SECRET_REQUIRED, exit 78, no demo links, nothing written', async () => {
    const data = dataDir();
    const run = await podman(['run', ...runArgs(`sfu-test-nokey-${id}`, data, { SFU_HTTP_PORT: String(await freePort()) })], 120_000);
    const out = run.stdout + run.stderr;
    expect(run.code, out).toBe(78);
    expect(out).toContain('invalid configuration (JWT_SECRET_REQUIRED)');
    expect(out).not.toContain('#token=');
    expect(readdirSync(data)).toEqual([]);
  }, 120_000);

  it('runs as its non-root user with a data volume, answers /healthz, serves a join, drains on SIGTERM', async () => {
    const data = dataDir();
    const secretDir = mkdtempSync(join(tmpdir(), 'sfu-container-secret-'));
    dirs.push(secretDir);
    writeFileSync(join(secretDir, 'jwt'), `${secret}\n`, { mode: 0o644 });
    const port = await freePort();
    const name = `sfu-test-run-${id}`;
    const t = Date.now();
    await podmanOk(['run', '-d', '-v', `${join(secretDir, 'jwt')}:/run/secrets/jwt:ro`,
      ...runArgs(name, data, { SFU_HTTP_PORT: String(port), SFU_JWT_SECRET_FILE: '/run/secrets/jwt', SFU_DRAIN_TIMEOUT_SECONDS: '2' })], 60_000);
    const base = `http://127.0.0.1:${port}`;
    const logs = async () => { const r = await podman(['logs', name], 30_000); return r.stdout + r.stderr; };
    try {
      await until(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200, 'GET /healthz from the container', 60_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await logs()}`);
    }
    timings.startToHealthyMs = Date.now() - t;
    await until(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 'GET /readyz', 30_000);
    expect((await podman(['healthcheck', 'run', name], 30_000)).code).toBe(0);
    expect((await podmanOk(['exec', name, 'id', '-u'], 30_000)).stdout.trim()).toBe(String(UID));

    // A join over the real protocol: the clinician with a token minted here from the same secret,
    // the student with one from the image's own token CLI (which reads the mounted secret file).
    const room = `container-${id}`;
    const clinician = await RtcClient.connect(`${base.replace('http', 'ws')}/rtc`, { token: mintToken(secret, { room, identity: 'clin', role: 'clinician' }) });
    const studentToken = (await podmanOk(['exec', name, 'node', 'scripts/token.ts', '--room', room, '--identity', 'stud', '--role', 'student'], 60_000)).stdout.trim();
    const student = await RtcClient.connect(`${base.replace('http', 'ws')}/rtc`, { token: studentToken });
    try {
      const a = await clinician.request('join', { displayName: 'Clinician' });
      const b = await student.request('join', { displayName: 'Student' });
      expect(b.participants.map((p: { participantId: string }) => p.participantId)).toEqual([a.participantId]);
      const send = await clinician.request('createTransport', { direction: 'send' });
      expect(send.iceCandidates.map((c: { ip?: string; address?: string }) => c.address ?? c.ip)).toContain('127.0.0.1');
      const mic = await clinician.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(), source: 'mic' });
      await student.request('createTransport', { direction: 'recv', rtpCapabilities: b.routerRtpCapabilities });
      expect(await student.waitFor('newConsumer', (d) => d.producerId === mic.producerId, 10_000)).toMatchObject({ kind: 'audio', participantId: a.participantId });
      // The admin CLI inside the image finds the node and its credential (/data/admin-token) from the image's environment.
      const rooms = JSON.parse((await podmanOk(['exec', name, 'node', 'scripts/admin.ts', '--json', 'rooms'], 60_000)).stdout);
      expect(rooms.rooms).toEqual([expect.objectContaining({ roomId: room, participants: 2 })]);
    } finally {
      clinician.close();
      student.close();
    }

    // The data volume: written by the image's user; no token secret generated in production.
    const written = readdirSync(data);
    expect(written).toEqual(expect.arrayContaining(['admin-token', 'records-key', 'records.db']));
    expect(written).not.toContain('jwt-secret');
    for (const f of written) expect(statSync(join(data, f)).uid, f).toBe(UID);

    const stop = Date.now();
    await podmanOk(['stop', '-t', '30', name], 60_000);
    timings.stopMs = Date.now() - stop;
    const state = JSON.parse((await podmanOk(['inspect', name], 30_000)).stdout)[0].State;
    const out = await logs();
    expect(state.ExitCode, out).toBe(0);
    expect(out).toContain('draining before shutdown');
    expect(out).toContain('shutdown complete');
    // Production: no demo links, and neither the secret nor a token in the log.
    expect(out).not.toContain('#token=');
    expect(out).not.toContain(secret);
    expect(out).not.toContain(studentToken);
  }, 180_000);
});
