import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mintDeskToken } from '../../src/auth/mint.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { startNginx, type TestNginx } from '../helpers/nginx.ts';
import { safetyClient } from '../helpers/safety-client.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import type { AdmissionRecord } from '../../src/store/types.ts';
import {
  chromiumFor,
  openClient,
  pollUntil,
  useServerAndBrowser,
  waitForMediaFlow,
  waitForState,
  whenTrueInPage,
  type ClientPage,
} from '../helpers/browser.ts';

/**
 * TLS for signalling through the documented reverse proxy: Debian's nginx running
 * deploy/nginx/sfu.conf (the file docs/operations.md shows) with a throwaway certificate, in front
 * of a real server. Two Chromium pages opened at https://<nginx>/ complete a call (WSS /rtc; media
 * straight to the SFU's port, as in production), the student's silent alarm reaches the clinician
 * through /socket.io/ over the proxy, a socket.io client held to long-polling gets its desk replay
 * through it, and a renewed certificate is taken by `nginx -s reload` with the call going on.
 */
const available = chromiumFor('the TLS reverse proxy e2e tests');

const ROOM = 'e2e-tls-proxy';

/** GET over TLS checked against `ca`: status and body. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject).end();
  });
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:port is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

describe.skipIf(!available)('TLS through nginx (deploy/nginx/sfu.conf) in front of the SFU', () => {
  // nginx on this host is the one proxy: admission records keep the address nginx saw.
  const env = useServerAndBrowser({ http: { trustProxy: ['127.0.0.1'] } });
  let nginx: TestNginx | undefined;
  afterAll(async () => { await nginx?.stop(); }, 30_000);
  const link = (identity: string, role: 'clinician' | 'student') => ({
    token: env.server.mint(ROOM, identity, role), policy: env.server.handle.config.consent.policyVersions[0]!,
  });

  it('pages over HTTPS complete a call over WSS, the panic channel and a long-polling desk work through the proxy, a certificate reload keeps the call', async (ctx) => {
    nginx = await startNginx(new URL(env.server.url).host);
    if (!nginx) { ctx.skip(); return; }
    const ca = nginx.cert();
    const tokens = { student: link('student-tls', 'student'), clinician: link('clinician-tls', 'clinician') };
    const admissions = vi.spyOn(env.server.handle.store, 'recordAdmission');

    // The page through nginx; its signalling follows the page's origin (wss://127.0.0.1:<nginx>/rtc).
    const opened = Date.now();
    const [student, clinician]: [ClientPage, ClientPage] = await Promise.all([
      openClient(env.browser, nginx.url, 'student', tokens.student, { context: { ignoreHTTPSErrors: true } }),
      openClient(env.browser, nginx.url, 'clinician', tokens.clinician, { context: { ignoreHTTPSErrors: true } }),
    ]);
    await Promise.all([student, clinician].map((p) => waitForState(p, 'joined')));
    const flows = await Promise.all([student, clinician].map((p) => waitForMediaFlow(p, { timeoutMs: 20_000 })));
    for (const f of flows) {
      expect(f.framesDecodedDeltas.every((d) => d > 0)).toBe(true);
      expect(f.audioPacketDeltas.every((d) => d > 0)).toBe(true);
    }
    expect(await student.page.evaluate('location.protocol')).toBe('https:');
    // Media does not go through nginx: the selected pairs name the SFU's own (host) candidate.
    const paths = await pollUntil('both transports on a selected pair', () => student.icePaths(), (ps) => ps.length === 2);
    for (const p of paths) expect(p).toMatchObject({ remoteType: 'host', state: 'succeeded' });
    console.log(`[e2e tls-proxy] call through nginx: first remote frame ${flows.map((f) => f.firstFrameMs).join(' / ')} ms after Join `
      + `(joined ${flows.map((f) => f.timings.joined).join(' / ')} ms), both pages decoding ${Date.now() - opened} ms after opening`);

    // The panic channel through the proxy: a silent alarm reaches the clinician's banner.
    for (const c of [student, clinician]) {
      await pollUntil(`${c.name}'s /safety connection`, () => c.page.evaluate('window.sfuClient.panic().channel') as Promise<string>, (s) => s === 'connected');
    }
    await student.page.check('#panic-silent');
    const pressed = performance.now();
    await student.page.click('#panic');
    const bannerAt = await whenTrueInPage(clinician.page, `(() => { const b = document.getElementById('panic-banner'); return b && !b.hidden && b.checkVisibility(); })()`);
    const mine = await pollUntil('the alarm acknowledged by the server', () => student.page.evaluate('window.sfuClient.panic()') as Promise<{ acked: boolean; lastIncidentId?: string }>, (p) => p.acked);
    console.log(`[e2e tls-proxy] silent alarm: on the clinician's page ${Math.round(bannerAt - pressed)} ms after the click (test process)`);

    // A socket.io client held to long-polling, checking nginx's certificate: its desk replay.
    const desk = await safetyClient(nginx.url, mintDeskToken(TEST_SECRET, { identity: 'desk-tls', rooms: ['*'] }), 'polling', { ca });
    try {
      const alert = await desk.waitFor('panic:alert', (d) => d.incident?.id === mine.lastIncidentId);
      expect(alert).toMatchObject({ replay: true, participant: { identity: 'student-tls', role: 'student' } });
      expect(await desk.waitFor('panic:replayed')).toMatchObject({ count: 1 });
      expect(desk.socket.io.engine.transport.name).toBe('polling');
    } finally {
      desk.close();
    }

    // The address recorded for a join through nginx is the one nginx saw (X-Forwarded-For
    // $remote_addr), never one the client put in its own X-Forwarded-For.
    const spoofer = await RtcClient.connect(`${nginx.url.replace(/^https/, 'wss')}/rtc`, {
      token: env.server.mint(ROOM, 'spoofer-tls', 'student'), headers: { 'x-forwarded-for': '203.0.113.7' }, ca,
    });
    await spoofer.request('join', {});
    spoofer.close();
    const recorded = admissions.mock.calls.map(([r]) => (r as AdmissionRecord));
    expect(recorded.map((r) => r.identity).sort()).toEqual(['clinician-tls', 'spoofer-tls', 'student-tls']);
    expect(recorded.map((r) => r.remoteAddress)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    admissions.mockRestore();

    // Internal endpoints are not served on the public name; the pages are.
    expect((await httpsGet(`${nginx.url}/metrics`, ca)).status).toBe(404);
    expect((await httpsGet(`${nginx.url}/admin/rooms`, ca)).status).toBe(404);
    expect((await httpsGet(`${nginx.url}/readyz`, ca)).status).toBe(404);
    expect((await httpsGet(`${nginx.url}/desk.html`, ca)).status).toBe(200);

    // Certificate renewal: `nginx -s reload` serves the new one to new connections; the call goes on
    // on its open connections (no SFU restart, no rejoin).
    const before = await servedFingerprint(nginx.port);
    const ids = await Promise.all([student, clinician].map((p) => p.participantId()));
    const reloaded = performance.now();
    await nginx.renewCertificate();
    expect(nginx.fingerprint()).not.toBe(before);
    // The old worker may take one more connection while it winds down: poll briefly.
    await pollUntil('nginx to serve the renewed certificate', () => servedFingerprint(nginx!.port), (fp) => fp === nginx!.fingerprint(), { timeoutMs: 5000, intervalMs: 20 });
    console.log(`[e2e tls-proxy] renewed certificate served ${Math.round(performance.now() - reloaded)} ms after nginx -s reload`);
    await Promise.all([student, clinician].map((p) => waitForMediaFlow(p)));
    for (const [i, p] of [student, clinician].entries()) {
      expect(await p.state()).toBe('joined');
      expect(await p.participantId()).toBe(ids[i]);
    }
    // The pages' signalling still works after the reload: an alarm acknowledgement round trip.
    await clinician.page.click('#panic-ack');
    await pollUntil('the acknowledgement at the server', async () => env.server.handle.panic.openIncidents().find((i) => i.id === mine.lastIncidentId)?.acknowledgedAt, (a) => a !== undefined);
    const errors = [...student.logs, ...clinician.logs].filter((l) => l.includes('pageerror'));
    expect(errors).toEqual([]);
    await Promise.all([student, clinician].map((p) => p.page.context().close()));
    // What nginx logged: WebSocket upgrades for /rtc and /socket.io/ (logged when they
    // close), polling requests, never a token.
    const log = await pollUntil('the closed WebSockets in the access log', async () => nginx!.accessLog(), (l) => /"GET \/rtc HTTP\/1\.1" 101 /.test(l) && /"GET \/socket\.io\/ HTTP\/1\.1" 101 /.test(l));
    expect(log).toMatch(/"GET \/rtc HTTP\/1\.1" 101 /);
    expect(log).toMatch(/"GET \/socket\.io\/ HTTP\/1\.1" 101 /);
    expect(log).toMatch(/"POST \/socket\.io\/ HTTP\/1\.1" 200 /);
    for (const t of [tokens.student.token, tokens.clinician.token]) expect(log).not.toContain(t.slice(-20));
  }, 60_000);
});
