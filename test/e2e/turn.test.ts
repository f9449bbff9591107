import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { mintTurnCredential } from '../../src/media/turn-credentials.ts';
import { startCoturn } from '../helpers/coturn.ts';
import {
  chromiumFor,
  openClient,
  pollUntil,
  waitForMediaFlow,
  waitForState,
  useServerAndBrowser,
  type ClientPage,
} from '../helpers/browser.ts';

/**
 * TURN with short-lived credentials through a real coturn (Debian's, on 127.0.0.1 with
 * use-auth-secret): two Chromium pages told to use relay candidates only (`#relay=1`) complete a
 * call with the credentials the server minted in their join responses, and coturn refuses an
 * allocation with an expired credential.
 */
const available = chromiumFor('the TURN e2e tests');
const coturn = available ? await startCoturn() : undefined;
afterAll(() => coturn?.stop());

const ROOM = 'e2e-turn';
const TTL_SECONDS = 600;

interface Gathered { candidateTypes: string[]; errors: { errorCode: number; url: string }[]; state: string }

/**
 * In the page: a peer connection with only this TURN server and relay-only policy gathers its
 * candidates; resolves with their types and the icecandidateerror events once gathering completes.
 */
function gatherRelay(page: Page, server: { urls: string[]; username: string; credential: string }): Promise<Gathered> {
  return page.evaluate(`(async () => {
    const pc = new RTCPeerConnection({ iceServers: [${JSON.stringify(server)}], iceTransportPolicy: 'relay' });
    const candidateTypes = [];
    const errors = [];
    pc.onicecandidate = (e) => { if (e.candidate) candidateTypes.push(e.candidate.type ?? 'unknown'); };
    pc.onicecandidateerror = (e) => { errors.push({ errorCode: e.errorCode, url: e.url }); };
    const complete = new Promise((resolve) => {
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await Promise.race([complete, new Promise((r) => setTimeout(r, 15000))]);
    const state = pc.iceGatheringState;
    pc.close();
    return { candidateTypes, errors, state };
  })()`) as Promise<Gathered>;
}

describe.skipIf(!available || !coturn)('TURN with short-lived credentials, through a real coturn', () => {
  const env = useServerAndBrowser(coturn ? { media: { turn: { urls: coturn.urls, secret: coturn.secret, ttlSeconds: TTL_SECONDS } } } : {});
  const link = (identity: string, role: 'clinician' | 'student') => ({
    token: env.server.mint(ROOM, identity, role), policy: env.server.handle.config.consent.policyVersions[0]!, relay: true,
  });

  it('two relay-only pages complete a call through coturn with the credentials their join responses carried', async () => {
    const started = Date.now();
    const pages: ClientPage[] = await Promise.all([
      openClient(env.browser, env.server.url, 'clinician', link('clinician-turn', 'clinician')),
      openClient(env.browser, env.server.url, 'student', link('student-turn', 'student')),
    ]);
    await Promise.all(pages.map((p) => waitForState(p, 'joined')));
    const flows = await Promise.all(pages.map((p) => waitForMediaFlow(p, { timeoutMs: 20_000 })));
    // Every media transport of both pages (send and recv) runs over a relay candidate. (A selected
    // pair reads 'in-progress' while a consent check is in flight: polled until both read succeeded.)
    const paths = await Promise.all(pages.map((p) => pollUntil(`${p.name}: both transports on a selected pair`, () => p.icePaths(),
      (ps) => ps.length === 2 && ps.every((x) => x.state === 'succeeded'), { context: () => p.logs.slice(-20).join('\n') })));
    for (const ps of paths) {
      for (const path of ps) expect(path, JSON.stringify(ps)).toMatchObject({ localType: 'relay', state: 'succeeded' });
    }
    console.log(`[e2e turn] relay-only call: first remote frame ${flows.map((f) => f.firstFrameMs).join(' / ')} ms after Join, `
      + `recv transport connected ${flows.map((f) => f.timings['recv-connected']).join(' / ')} ms; both pages decoding ${Date.now() - started} ms after opening; `
      + `paths ${JSON.stringify(paths)}`);
    for (const f of flows) {
      expect(f.framesDecodedDeltas.every((d) => d > 0)).toBe(true);
      expect(f.audioPacketDeltas.every((d) => d > 0)).toBe(true);
    }
    // coturn allocated for the usernames minted per join: <expiry>:<participant id>, never the identity.
    const log = coturn!.log();
    for (const p of pages) {
      const id = (await p.participantId())!;
      expect(log).toMatch(new RegExp(`user <\\d+:${id}>: incoming packet ALLOCATE processed, success`));
    }
    expect(log).not.toContain('clinician-turn');
    expect(log).not.toContain('student-turn');
    expect(log).not.toContain(coturn!.secret);
    await Promise.all(pages.map((p) => p.page.context().close()));
  }, 60_000);

  it('coturn refuses an allocation with an expired credential (and grants one minted now)', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${env.server.url}/`);
    const urls = coturn!.urls.filter((u) => u.endsWith('transport=udp'));
    const fresh = mintTurnCredential(coturn!.secret, 'fresh-probe', 60);
    // Minted two minutes ago with a one-minute lifetime: expired a minute ago.
    const expired = mintTurnCredential(coturn!.secret, 'expired-probe', 60, Date.now() - 120_000);
    expect(expired.expiresAt).toBeLessThan(Date.now() / 1000);

    const good = await gatherRelay(page, { urls, username: fresh.username, credential: fresh.credential });
    expect(good.candidateTypes, JSON.stringify(good)).toContain('relay');

    const bad = await gatherRelay(page, { urls, username: expired.username, credential: expired.credential });
    console.log(`[e2e turn] expired credential: ${JSON.stringify(bad)}`);
    expect(bad.state).toBe('complete');
    expect(bad.candidateTypes).not.toContain('relay');
    expect(bad.errors.map((e) => e.errorCode)).toContain(401);
    // coturn's side: the expired username's allocation was answered 401, and never granted.
    const log = coturn!.log();
    expect(log).toMatch(new RegExp(`user <${expired.username}>: incoming packet message processed, error 401: Unauthorized`));
    expect(log).not.toMatch(new RegExp(`user <${expired.username}>: incoming packet ALLOCATE processed, success`));
    await context.close();
  }, 60_000);
});
