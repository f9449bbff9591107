import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { mintTurnCredential } from '../../src/media/turn-credentials.ts';
import { startCoturn } from '../helpers/coturn.ts';
import { turnClient } from '../helpers/turn-client.ts';
import { until } from '../helpers/until.ts';
import { startTurnLifetimeProxy } from '../helpers/turn-lifetime-proxy.ts';
import {
  chromiumFor,
  openClient,
  pollUntil,
  waitForMediaFlow,
  waitForState,
  useServerAndBrowser,
  type ClientPage,
  type IcePath,
  type InboundStat,
} from '../helpers/browser.ts';

/**
 * A relay-only call that outlives its TURN credential, through a real coturn 4.6 (Debian's): the
 * credential lives 60 s (media.turn.ttlSeconds' minimum). coturn grants browsers' allocations 600 s
 * (Chromium would refresh them after 540 s, and `max-allocate-lifetime` does not shorten an
 * allocation that asks for no LIFETIME), so the browsers reach coturn through a UDP relay that
 * tells them 30 s instead (test/helpers/turn-lifetime-proxy.ts): Chromium then refreshes every
 * 15 s, and a refresh with the expired username happens within the test's time. coturn's own
 * allocations, and its answers to the refreshes, are unchanged.
 *
 * Then, past the expiry, an ICE restart (the media-problem box's Retry, window.sfuClient.retryMedia)
 * gets fresh credentials from the restartIce responses, new allocations, and media over them.
 */
const available = chromiumFor('the TURN expiry e2e test');
const ALLOCATION_SECONDS = 30;
const coturn = await startCoturn();
const proxy = coturn && available ? await startTurnLifetimeProxy({ coturnPort: coturn.port, secret: coturn.secret, lifetimeSeconds: ALLOCATION_SECONDS }) : undefined;
afterAll(() => {
  proxy?.close();
  coturn?.stop();
});

const ROOM = 'e2e-turn-expiry';
const TTL_SECONDS = 60;

/** A signalling frame's JSON (other frames: an empty object). */
function parse(payload: string | Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(String(payload));
    return v && typeof v === 'object' ? v as Record<string, unknown> : {};
  } catch {
    return {};
  }
}

/** The TURN usernames (`<expiry>:<participant id>`) of the join and restartIce responses a page received. */
function watchTurnUsernames(page: Page): { method: string; username: string; at: number }[] {
  const seen: { method: string; username: string; at: number }[] = [];
  const methods = new Map<number, string>();
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      const msg = parse(f.payload) as { id?: number; method?: string };
      if (typeof msg.id === 'number' && msg.method) methods.set(msg.id, msg.method);
    });
    ws.on('framereceived', (f) => {
      const msg = parse(f.payload) as { id?: number; ok?: boolean; data?: { iceServers?: { username?: string }[] } };
      const method = typeof msg.id === 'number' ? methods.get(msg.id) : undefined;
      if (!method || !msg.ok) return;
      for (const s of msg.data?.iceServers ?? []) if (s.username) seen.push({ method, username: s.username, at: Date.now() });
    });
  });
  return seen;
}

const expiryOf = (username: string) => Number(username.split(':')[0]);

/** Inbound video frames decoded and audio packets received, summed per kind. */
function totals(stats: InboundStat[]): { frames: number; audio: number } {
  return {
    frames: stats.filter((s) => s.kind === 'video').reduce((n, s) => n + (s.framesDecoded ?? 0), 0),
    audio: stats.filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packetsReceived, 0),
  };
}

describe.skipIf(!coturn)('coturn and an allocation whose username expired (a scripted TURN client)', () => {
  it('accepts REFRESH, CREATE_PERMISSION and CHANNEL_BIND on it, and refuses a new ALLOCATE with the same credential', async () => {
    // Valid 2 s from now: allocated in time, used after.
    const cred = mintTurnCredential(coturn!.secret, 'scripted-probe', 2);
    const inTime = await turnClient({ port: coturn!.port, secret: coturn!.secret, username: cred.username });
    const late = await turnClient({ port: coturn!.port, secret: coturn!.secret, username: cred.username });
    try {
      expect(await inTime.allocate()).toBe('success');
      await until(() => Date.now() / 1000 > cred.expiresAt + 1, 'the credential to expire', 5000);
      const outcomes = {
        refresh: await inTime.refresh(600),
        createPermission: await inTime.createPermission('127.0.0.1'),
        channelBind: await inTime.channelBind(0x4000, '127.0.0.1', 9),
        newAllocation: await late.allocate(),
      };
      expect(outcomes).toEqual({ refresh: 'success', createPermission: 'success', channelBind: 'success', newAllocation: 401 });
      // coturn's side, logged (its output may trail its answers a little).
      const lines = [
        ...['REFRESH', 'CREATE_PERMISSION', 'CHANNEL_BIND'].map((m) => `user <${cred.username}>: incoming packet ${m} processed, success`),
        `user <${cred.username}>: incoming packet message processed, error 401: Unauthorized`,
      ];
      await pollUntil('coturn logged the three successes and the 401', async () => coturn!.log(), (log) => lines.every((l) => log.includes(l)), { timeoutMs: 5000 });
      console.log(`[e2e turn-expiry] scripted client, ${(Date.now() / 1000 - cred.expiresAt).toFixed(1)} s after expiry: ${JSON.stringify(outcomes)}`);
    } finally {
      inTime.close();
      late.close();
    }
  }, 20_000);
});

describe.skipIf(!available || !coturn)('a relay-only session past its TURN credential\'s expiry, through a real coturn', () => {
  const env = useServerAndBrowser(coturn ? { media: { turn: { urls: [proxy!.url], secret: coturn.secret, ttlSeconds: TTL_SECONDS } } } : {});
  const link = (identity: string, role: 'clinician' | 'student') => ({
    token: env.server.mint(ROOM, identity, role), policy: env.server.handle.config.consent.policyVersions[0]!, relay: true,
  });

  it('keeps media over the allocations made in time, refreshed with the expired username; an ICE restart then relays with a fresh credential', async () => {
    const started = Date.now();
    const pages: ClientPage[] = [];
    const usernames = new Map<ClientPage, { method: string; username: string; at: number }[]>();
    for (const [name, role] of [['clinician', 'clinician'], ['student', 'student']] as const) {
      // Watch the signalling before the page joins: the join response carries the first credential.
      const p = await openClient(env.browser, env.server.url, name, link(`${name}-turn-expiry`, role), { join: false });
      usernames.set(p, watchTurnUsernames(p.page));
      await p.join();
      pages.push(p);
    }
    await Promise.all(pages.map((p) => waitForState(p, 'joined')));
    await Promise.all(pages.map((p) => waitForMediaFlow(p, { timeoutMs: 20_000 })));
    const joined = pages.map((p) => usernames.get(p)!.find((u) => u.method === 'join')!);
    const expiry = Math.max(...joined.map((u) => expiryOf(u.username)));
    console.log(`[e2e turn-expiry] joined; credentials expire at ${expiry} (${(expiry * 1000 - Date.now()) / 1000} s from now)`);

    // Until the credentials have expired, each page's allocations were refreshed after that and at
    // least 20 s have passed since (over a refresh period), both pages' media sampled every 2 s.
    const samples = new Map<ClientPage, { at: number; frames: number; audio: number }[]>(pages.map((p) => [p, []]));
    let logAtExpiry: number | undefined;
    const refreshedAt = new Map<string, number>();
    const refreshLine = (u: string) => `user <${u}>: incoming packet REFRESH processed, success`;
    await pollUntil('the credentials expired and each page\'s allocations refreshed since', async () => {
      for (const p of pages) samples.get(p)!.push({ at: Date.now(), ...totals(await p.inboundStats()) });
      if (logAtExpiry === undefined && Date.now() / 1000 > expiry + 1) logAtExpiry = coturn!.log().length;
      if (logAtExpiry === undefined) return false;
      const since = coturn!.log().slice(logAtExpiry);
      for (const u of joined) if (!refreshedAt.has(u.username) && since.includes(refreshLine(u.username))) refreshedAt.set(u.username, Date.now());
      return refreshedAt.size === joined.length && Date.now() / 1000 > expiry + ALLOCATION_SECONDS / 2 + 5;
    }, (done) => done, { timeoutMs: (TTL_SECONDS + 2 * ALLOCATION_SECONDS) * 1000, intervalMs: 2000 });
    // Media after the refreshes too, still over the relay pairs.
    await Promise.all(pages.map((p) => waitForMediaFlow(p, { timeoutMs: 10_000 })));
    for (const p of pages) samples.get(p)!.push({ at: Date.now(), ...totals(await p.inboundStats()) });
    // (A selected pair reads 'in-progress' while a consent check is in flight: polled.)
    const onRelay = (ps: IcePath[]) => ps.length === 2 && ps.every((x) => x.localType === 'relay' && x.state === 'succeeded' && x.localPort !== undefined);
    const before = await Promise.all(pages.map((p) => pollUntil(`${p.name}: both transports on a relay pair`, () => p.icePaths(), onRelay)));
    for (const p of pages) {
      const s = samples.get(p)!;
      // Audio packets (50 a second) in every interval; decoded frames in every three (a layer
      // switch can hold video for a keyframe for a second or two, TURN or not).
      const audioGaps = s.slice(1).filter((x, i) => x.audio <= s[i]!.audio);
      const videoGaps = s.slice(3).filter((x, i) => x.frames <= s[i]!.frames);
      expect({ audioGaps, videoGaps }, `${p.name}: ${JSON.stringify(s)}`).toEqual({ audioGaps: [], videoGaps: [] });
    }
    const refreshes = coturn!.log().slice(logAtExpiry).split('\n').filter((l) => joined.some((u) => l.includes(refreshLine(u.username))));
    const lastSample = Math.max(...[...samples.values()].map((s) => s.at(-1)!.at));
    console.log(`[e2e turn-expiry] ${refreshes.length} successful REFRESH lines with the expired usernames, first per page ${[...refreshedAt.values()].map((t) => `${(t / 1000 - expiry).toFixed(1)} s`).join(' / ')} after expiry; `
      + `media sampled every 2 s, growing, until ${(lastSample / 1000 - expiry).toFixed(1)} s after expiry; ${proxy!.rewritten()} lifetimes shortened; ${(Date.now() - started) / 1000} s since opening`);

    // An ICE restart now (the media-problem box's Retry): the restartIce responses carry fresh
    // credentials, coturn grants new allocations with them, and media flows over new relay pairs.
    expect(Date.now() / 1000).toBeGreaterThan(expiry);
    const restartAt = Date.now();
    await Promise.all(pages.map((p) => p.page.evaluate('window.sfuClient.retryMedia()')));
    const fresh = await Promise.all(pages.map((p) => pollUntil(`${p.name}: restartIce responses for both transports`,
      async () => usernames.get(p)!.filter((u) => u.method === 'restartIce'), (list) => list.length >= 2)));
    for (const [i, list] of fresh.entries()) {
      for (const u of list) {
        expect(u.username.split(':')[1]).toBe(joined[i]!.username.split(':')[1]);
        expect(expiryOf(u.username)).toBeGreaterThanOrEqual(Math.floor(restartAt / 1000) + TTL_SECONDS);
      }
    }
    await pollUntil('coturn granted allocations to the fresh credentials', async () => coturn!.log(),
      (log) => fresh.every((list) => list.some((u) => log.includes(`user <${u.username}>: incoming packet ALLOCATE processed, success`))), { timeoutMs: 20_000 });
    // Both transports of both pages on a relay pair whose relayed port is not the one before the restart.
    const after = await Promise.all(pages.map((p, i) => pollUntil(`${p.name}: both transports on a new relay pair`, () => p.icePaths(),
      (ps) => onRelay(ps) && ps.every((x) => x.localPort !== before[i]!.find((b) => b.direction === x.direction)?.localPort), { timeoutMs: 30_000 })));
    await Promise.all(pages.map((p) => waitForMediaFlow(p, { timeoutMs: 20_000 })));
    console.log(`[e2e turn-expiry] ICE restart ${(restartAt / 1000 - expiry).toFixed(1)} s after expiry: fresh credentials expire ${fresh.map((l) => l.map((u) => expiryOf(u.username) - Math.floor(restartAt / 1000)).join('/')).join(' ; ')} s after it; `
      + `relay ports ${JSON.stringify(before.map((ps) => ps.map((x) => x.localPort)))} -> ${JSON.stringify(after.map((ps) => ps.map((x) => x.localPort)))}; media again ${(Date.now() - restartAt) / 1000} s after; total ${(Date.now() - started) / 1000} s`);
    await Promise.all(pages.map((p) => p.page.context().close()));
  }, 240_000);
});
