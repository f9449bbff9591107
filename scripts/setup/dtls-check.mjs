// A real ICE + DTLS handshake against a mediasoup worker, without a browser: the set-up's check that a
// worker binary can serve WebRTC (worker.mjs verify()), and test/integration/dtls-handshake.test.ts.
//
// mediasoup's WebRtcTransport is ICE-lite: it takes DTLS only from a tuple that sent it a valid STUN
// Binding request. So: a WebRtcTransport on a loopback WebRtcServer; one UDP socket (R) facing it
// sends the Binding request (controlling, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT) and, once
// answered, relays DTLS between the worker and `openssl s_client -dtls1_2` (which talks to a second
// socket, L), with a throwaway client certificate whose fingerprint is given to transport.connect().
// The check passes when the transport's dtlsState becomes 'connected' and the worker still answers.
// (The first offline 3.27.1 build died with SIGSEGV at the ServerHello: docs/worker-build.md.)
//
// Node built-ins and the `openssl` CLI only (the set-up runs before anything else is installed).
// As a script: `node scripts/setup/dtls-check.mjs`, with the binary in $VERIFY_WORKER_BIN (else
// mediasoup's default: $MEDIASOUP_WORKER_BIN or its own); prints one line, exits 1 when it fails.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

const MAGIC_COOKIE = 0x2112a442;
const ATTR = { USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, PRIORITY: 0x0024, USE_CANDIDATE: 0x0025, FINGERPRINT: 0x8028, ICE_CONTROLLING: 0x802a };

const attribute = (type, value) => {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
};

const header = (type, bodyLength, transactionId) => {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(bodyLength, 2);
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(h, 8);
  return h;
};

/**
 * A STUN Binding request as an ICE agent in the controlling role sends it (RFC 8445 7.1.2, RFC 5389
 * 15.4/15.5): USERNAME "<remote ufrag>:<local ufrag>", PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
 * MESSAGE-INTEGRITY keyed with the remote password, FINGERPRINT (mediasoup requires it).
 */
export function stunBindingRequest({ remoteUfrag, remotePassword, localUfrag, transactionId }) {
  const priority = Buffer.alloc(4);
  priority.writeUInt32BE(((110 << 24) >>> 0) + (65535 << 8) + 255, 0); // peer-reflexive type preference
  let body = Buffer.concat([
    attribute(ATTR.USERNAME, Buffer.from(`${remoteUfrag}:${localUfrag}`)),
    attribute(ATTR.PRIORITY, priority),
    attribute(ATTR.ICE_CONTROLLING, randomBytes(8)),
    attribute(ATTR.USE_CANDIDATE, Buffer.alloc(0)),
  ]);
  // MESSAGE-INTEGRITY covers the header (its length counting the MESSAGE-INTEGRITY attribute) and
  // the attributes before it.
  const mac = createHmac('sha1', remotePassword).update(Buffer.concat([header(0x0001, body.length + 24, transactionId), body])).digest();
  body = Buffer.concat([body, attribute(ATTR.MESSAGE_INTEGRITY, mac)]);
  // FINGERPRINT: CRC-32 of everything before it (the length counting it), xor 0x5354554e.
  const fingerprint = Buffer.alloc(4);
  fingerprint.writeUInt32BE((crc32(Buffer.concat([header(0x0001, body.length + 8, transactionId), body])) ^ 0x5354554e) >>> 0, 0);
  body = Buffer.concat([body, attribute(ATTR.FINGERPRINT, fingerprint)]);
  return Buffer.concat([header(0x0001, body.length, transactionId), body]);
}

/** The answer to our request: 'success', 'error <code> <reason>', or undefined when not ours. */
export function stunAnswer(msg, transactionId) {
  if (msg.length < 20 || msg.readUInt32BE(4) !== MAGIC_COOKIE || !msg.subarray(8, 20).equals(transactionId)) return undefined;
  const type = msg.readUInt16BE(0);
  if (type === 0x0101) return 'success';
  if (type !== 0x0111) return undefined;
  for (let at = 20; at + 4 <= msg.length;) {
    const t = msg.readUInt16BE(at);
    const len = msg.readUInt16BE(at + 2);
    if (t === ATTR.ERROR_CODE && len >= 4) {
      return `error ${(msg[at + 6] & 7) * 100 + msg[at + 7]} ${msg.subarray(at + 8, at + 4 + len).toString()}`;
    }
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return 'error (no ERROR-CODE)';
}

/** A throwaway P-256 client certificate: { cert, key } paths in dir, and its SHA-256 fingerprint as mediasoup wants it. */
function clientCertificate(openssl, dir) {
  const cert = join(dir, 'client.crt');
  const key = join(dir, 'client.key');
  const r = spawnSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=sfu-dtls-check', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`${openssl} req (client certificate for the DTLS check) failed: ${r.error?.code === 'ENOENT' ? `${openssl} not found (Debian package openssl)` : (r.error?.message ?? r.stderr.trim())}`);
  }
  // "AB:CD:..." (uppercase hex, colons): what `openssl x509 -fingerprint -sha256` prints, and mediasoup's format.
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}

const MEDIA_CODECS = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 101 },
];

/**
 * Starts a worker (workerBin, else mediasoup's default), a router, a WebRtcServer on loopback UDP + TCP
 * and a WebRtcTransport on it, then completes ICE + DTLS 1.2 (with use_srtp) with `openssl s_client`
 * over UDP. Resolves { ok, reason, dtlsState, iceState, workerAlive, workerDied, ... }; ok only when the
 * transport reached dtlsState 'connected' and the worker is alive and answering afterwards. Throws only
 * when the check cannot run (no openssl, the worker does not start).
 * wrongFingerprint: give connect() a fingerprint that is not the client's (mediasoup must then fail DTLS).
 */
export async function checkDtlsHandshake({ workerBin, timeoutMs = 10_000, wrongFingerprint = false, openssl = 'openssl' } = {}) {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'sfu-dtls-check-'));
  const cleanups = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const client = clientCertificate(openssl, dir);
    const mediasoup = await import('mediasoup');
    const worker = await mediasoup.createWorker({ logLevel: 'warn', ...(workerBin ? { workerBin } : {}) });
    cleanups.push(() => worker.close());
    let workerDied;
    worker.on('died', (err) => { workerDied = err.message; });
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const server = await worker.createWebRtcServer({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', port: 0 }, { protocol: 'tcp', ip: '127.0.0.1', port: 0 }] });
    const transport = await router.createWebRtcTransport({ webRtcServer: server });
    const udp = transport.iceCandidates.find((c) => c.protocol === 'udp');
    if (!udp) throw new Error('the WebRtcTransport has no UDP ICE candidate');

    const result = {
      ok: false, reason: '', dtlsState: transport.dtlsState, iceState: transport.iceState, workerAlive: false, workerDied: undefined,
      workerPid: worker.pid, mediasoupVersion: mediasoup.version, iceCandidates: transport.iceCandidates.length,
      handshakeMs: 0, totalMs: 0, opensslLog: '',
    };
    // Every state change, and whatever ends the wait: connected, failed, the worker's death, s_client's exit, the deadline.
    let wake;
    const changed = () => wake?.();
    const waitFor = (done, ms) => new Promise((resolve) => {
      const timer = setTimeout(() => { wake = undefined; resolve(false); }, Math.max(0, ms));
      wake = () => { if (done()) { clearTimeout(timer); wake = undefined; resolve(true); } };
      wake();
    });
    transport.on('dtlsstatechange', (s) => { result.dtlsState = s; changed(); });
    transport.on('icestatechange', (s) => { result.iceState = s; changed(); });
    worker.on('died', changed);

    let value = client.fingerprint;
    if (wrongFingerprint) value = (value[0] === 'A' ? 'B' : 'A') + value.slice(1);
    await transport.connect({ dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value }] } });

    // ICE: a Binding request from R, repeated every 250 ms until answered (UDP on loopback: the first one is).
    const handshakeStarted = performance.now();
    const deadline = handshakeStarted + timeoutMs;
    const remote = createSocket('udp4');
    cleanups.push(() => remote.close());
    await new Promise((resolve, reject) => { remote.once('error', reject); remote.bind(0, '127.0.0.1', resolve); });
    const transactionId = randomBytes(12);
    const request = stunBindingRequest({
      remoteUfrag: transport.iceParameters.usernameFragment, remotePassword: transport.iceParameters.password,
      localUfrag: randomBytes(4).toString('hex'), transactionId,
    });
    let stun;
    remote.on('message', (msg) => { if (msg[0] <= 3 && stun === undefined) { stun = stunAnswer(msg, transactionId); changed(); } });
    const sendRequest = () => remote.send(request, udp.port, udp.address);
    sendRequest();
    const resend = setInterval(sendRequest, 250);
    cleanups.push(() => clearInterval(resend));
    await waitFor(() => stun !== undefined || workerDied !== undefined, timeoutMs);
    clearInterval(resend);

    const finish = async (reason) => {
      result.reason = reason;
      result.workerDied = workerDied;
      result.handshakeMs = Math.round(performance.now() - handshakeStarted);
      result.totalMs = Math.round(performance.now() - started);
      // Alive: not reported dead, the process exists, and it still answers on its channel.
      if (workerDied === undefined) {
        try {
          process.kill(worker.pid, 0);
          const [stats] = await Promise.race([transport.getStats(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 2 s')), 2000))]);
          result.workerAlive = true;
          if (stats?.dtlsState) result.dtlsState = stats.dtlsState;
        } catch (err) {
          result.reason ||= `the worker does not answer after the handshake (${err.message})`;
        }
      }
      result.workerDied = workerDied;
      if (workerDied !== undefined) result.reason ||= `the worker died: ${workerDied}`;
      result.ok = !result.reason && result.dtlsState === 'connected' && result.workerAlive;
      if (!result.ok) result.reason ||= `dtlsState ${result.dtlsState}`;
      return result;
    };
    if (stun !== 'success') {
      return await finish(workerDied !== undefined ? '' : `no STUN Binding success response from ${udp.address}:${udp.port} (${stun ?? 'no answer'})`);
    }

    // DTLS: s_client talks to L; R relays to the worker (the tuple ICE selected) and back.
    const local = createSocket('udp4');
    cleanups.push(() => local.close());
    await new Promise((resolve, reject) => { local.once('error', reject); local.bind(0, '127.0.0.1', resolve); });
    let peer;
    local.on('message', (msg, rinfo) => { peer = rinfo; remote.send(msg, udp.port, udp.address); });
    // From the worker: DTLS records (first byte 20-63, RFC 7983) go to s_client; STUN (0-3) is not its business.
    remote.on('message', (msg) => { if (peer && msg[0] >= 20 && msg[0] <= 63) local.send(msg, peer.port, peer.address); });
    const sClient = spawn(openssl, ['s_client', '-dtls1_2', '-connect', `127.0.0.1:${local.address().port}`,
      '-cert', client.cert, '-key', client.key, '-use_srtp', 'SRTP_AES128_CM_SHA1_80'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let log = '';
    const keep = (chunk) => { log = (log + chunk.toString()).slice(-4000); };
    sClient.stdout.on('data', keep);
    sClient.stderr.on('data', keep);
    let sClientExit;
    sClient.on('error', (err) => { sClientExit = err.message; changed(); });
    sClient.on('exit', (code, signal) => { sClientExit = `exit ${code ?? signal}`; changed(); });
    // stdin stays open (s_client would end the session at EOF) until we kill it.
    cleanups.push(() => { if (sClientExit === undefined) sClient.kill('SIGKILL'); });

    const settled = () => ['connected', 'failed', 'closed'].includes(result.dtlsState) || workerDied !== undefined;
    await waitFor(() => settled() || sClientExit !== undefined, deadline - performance.now());
    // s_client gone first: give the worker a moment to report its side.
    if (!settled() && sClientExit !== undefined) await waitFor(settled, 500);
    result.opensslLog = log;
    if (settled()) return await finish('');
    return await finish(sClientExit !== undefined
      ? `openssl s_client ended (${sClientExit}) with dtlsState ${result.dtlsState}`
      : `no DTLS outcome within ${timeoutMs} ms (dtlsState ${result.dtlsState}, iceState ${result.iceState})`);
  } finally {
    for (const c of cleanups.reverse()) {
      try { c(); } catch { /* already closed */ }
    }
  }
}

/** One line for a person: what passed, or why not. */
export function describe(r) {
  const what = `worker pid ${r.workerPid}, mediasoup ${r.mediasoupVersion}, ${r.iceCandidates} ICE candidates`;
  return r.ok
    ? `${what}; ICE + DTLS 1.2 handshake with openssl s_client: connected in ${r.handshakeMs} ms, worker alive`
    : `${what}; ICE + DTLS handshake FAILED: ${r.reason} (iceState ${r.iceState}, dtlsState ${r.dtlsState}, worker ${r.workerAlive ? 'alive' : 'not alive'})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const r = await checkDtlsHandshake({ workerBin: process.env.VERIFY_WORKER_BIN || undefined, wrongFingerprint: process.env.DTLS_CHECK_WRONG_FINGERPRINT === '1' });
    if (r.ok) {
      process.stdout.write(`${describe(r)}\n`);
    } else {
      process.stderr.write(`${describe(r)}\n${r.opensslLog ? `openssl s_client said:\n${r.opensslLog.trim().split('\n').slice(-15).join('\n')}\n` : ''}`);
    }
    process.exit(r.ok ? 0 : 1);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
