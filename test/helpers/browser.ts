import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page, type WebSocketRoute } from 'playwright-core';
import type { IcePath, InboundStat, OutboundStat } from '../../src/client/media-sample.ts';
import { startServer, type TestServer } from './server.ts';

// vitest loads only inside a vitest worker (elsewhere its import throws): the benches, plain Node
// processes (spawned by a test or not), use the page helpers below too.
const vitest = await import('vitest').catch(() => undefined);

/** Debian's Chromium by default (CI installs it); playwright's own browser download fails here. */
export const CHROMIUM_BIN = process.env.SFU_CHROMIUM_BIN ?? '/usr/bin/chromium';

/**
 * Chromium as a person runs it, but headless with a fake camera and microphone granted without a
 * prompt: nothing that relaxes ICE or autoplay (test/e2e/stock-browsers.test.ts, issue #14).
 */
export const STOCK_CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-device-for-media-stream=fps=30',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * What the other tests run: the stock flags plus loopback ICE candidates (the test servers listen
 * on and announce 127.0.0.1; see shared/notes/browser-e2e.md) and autoplay without a gesture.
 */
export const CHROMIUM_FLAGS = [...STOCK_CHROMIUM_FLAGS, '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_BIN);
}

/**
 * Whether Chromium is here for `what` (e.g. "the panic e2e tests"); when it is not, says loudly
 * that they are skipped and how to get it (a skipped browser test must never pass unnoticed).
 */
export function chromiumFor(what: string): boolean {
  if (chromiumAvailable()) return true;
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPING ${what}: no Chromium at ${CHROMIUM_BIN}\n!! Install it (apt-get install -y chromium) or set SFU_CHROMIUM_BIN.\n${bar}\n`);
  return false;
}

export function launchChromium(args: readonly string[] = CHROMIUM_FLAGS): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_BIN, args: [...args], timeout: 30_000 });
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Builds dist/client (a no-op when it is up to date), with the Node running the tests. */
export function buildClient(): void {
  const r = spawnSync(process.execPath, ['scripts/build-client.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`client build failed:\n${r.stdout}${r.stderr}`);
  process.stdout.write(r.stdout);
}

/**
 * For one describe block: builds the client, starts a server (with `overrides`) and Chromium before
 * its tests, and closes both after them. Read `server` and `browser` inside the tests.
 */
export function useServerAndBrowser(overrides: Record<string, unknown> = {}): { readonly server: TestServer; readonly browser: Browser } {
  if (!vitest) throw new Error('useServerAndBrowser runs under vitest');
  const env = {} as { server: TestServer; browser: Browser };
  vitest.beforeAll(async () => {
    buildClient();
    env.server = await startServer(overrides);
    env.browser = await launchChromium();
  }, 120_000);
  vitest.afterAll(async () => {
    await env.browser?.close();
    await env.server?.close();
  }, 60_000);
  return env;
}

/** The page's inbound and outbound stream stats (window.sfuClient.inboundStats(), outboundStats()): the client's own types. */
export type { IcePath, InboundStat, OutboundStat } from '../../src/client/media-sample.ts';

/** The page's window.sfuClient, read by evaluating expressions in the page (any browser driver). */
export interface SfuClientView {
  state(): Promise<string>;
  participantId(): Promise<string | undefined>;
  /** The room's dominant speaker as the page last heard from the server. */
  activeSpeaker(): Promise<string | undefined>;
  remoteParticipants(): Promise<string[]>;
  inboundStats(): Promise<InboundStat[]>;
  /** The camera's outbound streams, or with 'audio' the microphone's. */
  outboundStats(kind?: 'audio' | 'video'): Promise<OutboundStat[]>;
  /** The candidate pair each media transport uses now (localType 'relay': through TURN). */
  icePaths(): Promise<IcePath[]>;
  /** Milliseconds from the Join click to each step of the join, measured in the page. */
  timings(): Promise<Record<string, number>>;
}


/** Builds the view from the driver's page.evaluate of an expression: no test-side code is shipped into the browser. */
export function sfuClientView(evaluate: (expression: string) => Promise<unknown>): SfuClientView {
  const ev = <T>(expr: string) => evaluate(expr) as Promise<T>;
  return {
    state: () => ev<string>('window.sfuClient.state'),
    participantId: () => ev<string | undefined>('window.sfuClient.participantId'),
    activeSpeaker: () => ev<string | undefined>('window.sfuClient.activeSpeaker()'),
    remoteParticipants: () => ev<string[]>('window.sfuClient.remoteParticipants()'),
    inboundStats: () => ev<InboundStat[]>('window.sfuClient.inboundStats()'),
    outboundStats: (kind = 'video') => ev<OutboundStat[]>(`window.sfuClient.outboundStats('${kind === 'audio' ? 'audio' : 'video'}')`),
    icePaths: () => ev<IcePath[]>('window.sfuClient.icePaths()'),
    timings: () => ev<Record<string, number>>('window.sfuClient.timings()'),
  };
}

/** A client page of any browser driver, named, with its console kept for failure messages. */
export interface WatchedClient extends SfuClientView {
  readonly name: string;
  readonly logs: string[];
}

/** A browser page running the client (playwright), with its console kept for failure messages. */
export interface ClientPage extends WatchedClient {
  readonly page: Page;
  /** Fills the before-you-join form (test location, contact and consent) and clicks Join. */
  join(): Promise<void>;
  /** With `interceptSignalling`: how many signalling sockets the page has opened. */
  signallingConnections(): number;
  /**
   * With `interceptSignalling`: cuts the current signalling socket as a network failure would
   * (the server sees it close; the page sees close code `code`). Media transports are untouched.
   */
  dropSignalling(code?: number): Promise<void>;
  /**
   * With `interceptSignalling`: the page's next signalling sockets stay connecting (the page is
   * away: the server queues its notifications) until the returned function is called.
   */
  holdSignalling(): () => void;
}

/** What a person types into the before-you-join form, for tests. */
export const TEST_SAFETY_FORM = {
  place: 'Test School, room 4',
  region: 'US-CA',
  contactName: 'Test Contact',
  contactPhone: '+1 555 0100',
  consentName: 'Test Guardian',
};

/**
 * The before-you-join form's text fields and what a test types in them (then: choose the region in
 * the #loc-region select, REGION_SELECT; tick #consent-agree, click #join). The form shows once the
 * page's link check passed (the pre-join screen, #prejoin).
 */
export const SAFETY_FORM_FIELDS: readonly (readonly [selector: string, value: string])[] = [
  ['#loc-description', TEST_SAFETY_FORM.place],
  ['#contact-name', TEST_SAFETY_FORM.contactName],
  ['#contact-phone', TEST_SAFETY_FORM.contactPhone],
  ['#consent-name', TEST_SAFETY_FORM.consentName],
];

/** The region is a select of names; its value is the code the server gets. */
export const REGION_SELECT = ['#loc-region', TEST_SAFETY_FORM.region] as const;

/** Fills the before-you-join form as a person would and clicks Join (waits for the pre-join screen). */
export async function fillFormAndJoin(page: Page): Promise<void> {
  for (const [selector, value] of SAFETY_FORM_FIELDS) await page.fill(selector, value);
  await page.selectOption(REGION_SELECT[0], REGION_SELECT[1]);
  await page.check('#consent-agree');
  await page.click('#join');
}

/**
 * Opens the client in its own browser context (its own fake camera and microphone) at
 * `${baseUrl}/#token=...[&room=...][&policy=...][&relay=1]`, fills the before-you-join form and clicks Join
 * (unless `join: false`). `context`: options of its browser context (e.g. `ignoreHTTPSErrors`).
 */
export async function openClient(
  browser: Browser,
  baseUrl: string,
  name: string,
  fragment: { token: string; room?: string; policy?: string; relay?: boolean },
  opts: { interceptSignalling?: boolean; join?: boolean; context?: BrowserContextOptions; initScript?: string } = {},
): Promise<ClientPage> {
  const context = await browser.newContext(opts.context);
  if (opts.initScript) await context.addInitScript(opts.initScript);
  const page = await context.newPage();
  const logs: string[] = [];
  const sockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
  let held: Promise<void> = Promise.resolve();
  if (opts.interceptSignalling) {
    // Playwright relays the socket (messages and closes forwarded both ways), so a test can cut it.
    // An async handler: Playwright keeps the page's socket connecting until it returns (holdSignalling).
    await page.routeWebSocket(/\/rtc\?/, async (ws) => {
      await held;
      sockets.push({ page: ws, server: ws.connectToServer() });
    });
  }
  page.on('console', (m) => logs.push(`[${name} ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[${name} pageerror] ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) logs.push(`[${name} http] ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  const hash = new URLSearchParams({
    token: fragment.token,
    ...(fragment.room ? { room: fragment.room } : {}),
    ...(fragment.policy ? { policy: fragment.policy } : {}),
    ...(fragment.relay ? { relay: '1' } : {}),
  });
  await page.goto(`${baseUrl}/#${hash.toString()}`);
  if (opts.join ?? true) await fillFormAndJoin(page);
  return {
    name,
    page,
    logs,
    ...sfuClientView((expr) => page.evaluate(expr)),
    join: () => fillFormAndJoin(page),
    signallingConnections: () => sockets.length,
    holdSignalling() {
      let release!: () => void;
      held = new Promise((resolve) => { release = resolve; });
      return release;
    },
    async dropSignalling(code = 1012) {
      const current = sockets.at(-1);
      if (!current) throw new Error(`${name}: signalling is not intercepted (openClient interceptSignalling)`);
      // Closing one side by hand is not forwarded to the other: close both. The server side is a
      // real WebSocket inside the page, where close() only takes 1000 or 3000-4999.
      await current.server.close({ code: 3000, reason: 'test: network drop' });
      await current.page.close({ code, reason: 'test: network drop' });
    },
  };
}

/** Sets how wide the page draws a participant's tile (16:9, so the height follows), or hides it. */
export async function setTile(client: ClientPage, participantId: string, size: number | 'hidden'): Promise<void> {
  // An expression evaluated in the page (the tests' tsconfig has no DOM types).
  const style = size === 'hidden' ? 'tile.style.display = "none"' : `tile.style.display = ""; tile.style.width = "${size}px"`;
  await client.page.evaluate(`{ const tile = document.querySelector('[data-participant-id="${participantId}"]');
    if (!tile) throw new Error('no tile for ${participantId}'); ${style}; }`);
}

/** `viewer`'s inbound camera stream from `participantId` (the first video one), if any. */
export async function videoFrom(viewer: ClientPage, participantId: string): Promise<InboundStat | undefined> {
  return (await viewer.inboundStats()).find((s) => s.kind === 'video' && s.participantId === participantId);
}

/** Waits until `viewer` decodes `publisherId`'s video at a frame width satisfying `ok` (frames still growing). */
export function frameWidthFrom(viewer: ClientPage, publisherId: string, what: string, ok: (w: number) => boolean, timeoutMs = 20_000) {
  let frames = -1;
  return pollUntil(`${viewer.name}: ${what}`, async () => {
    const s = await videoFrom(viewer, publisherId);
    const growing = s !== undefined && (s.framesDecoded ?? 0) > frames;
    frames = s?.framesDecoded ?? -1;
    return { width: s?.frameWidth ?? 0, growing };
  }, ({ width, growing }) => growing && ok(width), { timeoutMs, intervalMs: 400, context: () => viewer.logs.slice(-15).join('\n') });
}

/**
 * Polls `sample` every `intervalMs` until `done` holds for its result, or fails after
 * `timeoutMs` naming `what` and the last value seen (and `context()` when given).
 */
export async function pollUntil<T>(
  what: string,
  sample: () => Promise<T>,
  done: (value: T) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number; context?: () => string } = {},
): Promise<T> {
  const { timeoutMs = 15_000, intervalMs = 250 } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await sample();
    if (done(last)) return last;
    if (Date.now() >= deadline) {
      const extra = opts.context ? `\n${opts.context()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${extra}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function waitForState(client: WatchedClient, expected: string, timeoutMs = 15_000): Promise<string> {
  return pollUntil(`${client.name} to reach state ${expected}`, () => client.state(), (s) => s === expected, {
    timeoutMs,
    context: () => client.logs.slice(-20).join('\n'),
  });
}

export interface MediaFlow {
  /** From the Join click to the first remote video frame, measured in the page. */
  firstFrameMs: number | undefined;
  /** The page's join timeline (ms from the Join click). */
  timings: Record<string, number>;
  /** framesDecoded growth of each inbound video between the two last samples. */
  framesDecodedDeltas: number[];
  /** packetsReceived growth of each inbound audio between the two last samples. */
  audioPacketDeltas: number[];
  frameWidths: number[];
}

/** Waits until the page's camera upload (bytes sent on its video streams) grows between two samples. */
export async function waitForUploadGrowth(client: WatchedClient, what: string, timeoutMs = 15_000): Promise<void> {
  let before: number | undefined;
  await pollUntil(what, async () => {
    const bytes = (await client.outboundStats()).reduce((n, s) => n + s.bytesSent, 0);
    const grew = before !== undefined && bytes > before;
    before = bytes;
    return grew;
  }, (grew) => grew, { timeoutMs, context: () => client.logs.slice(-20).join('\n') });
}

/**
 * Waits until every inbound video stream has framesDecoded growing and every inbound audio
 * stream packetsReceived growing between two samples (at least `minVideo`/`minAudio` streams).
 */
export async function waitForMediaFlow(client: WatchedClient, opts: { minVideo?: number; minAudio?: number; timeoutMs?: number } = {}): Promise<MediaFlow> {
  const { minVideo = 1, minAudio = 1, timeoutMs = 15_000 } = opts;
  let previous: InboundStat[] | undefined;
  const flow = await pollUntil(`${client.name}: inbound video frames and audio packets growing`, async () => {
    const current = await client.inboundStats();
    const before = previous;
    previous = current;
    const earlier = new Map((before ?? []).map((s) => [s.id, s]));
    if (current.length === 0 || current.some((s) => !earlier.has(s.id))) return { current, deltas: undefined };
    const deltas = current.map((s) => {
      const b = earlier.get(s.id)!;
      return { kind: s.kind, delta: s.kind === 'video' ? (s.framesDecoded ?? 0) - (b.framesDecoded ?? 0) : s.packetsReceived - b.packetsReceived };
    });
    return { current, deltas };
  }, ({ deltas }) => {
    if (!deltas) return false;
    const video = deltas.filter((d) => d.kind === 'video');
    const audio = deltas.filter((d) => d.kind === 'audio');
    return video.length >= minVideo && audio.length >= minAudio && deltas.every((d) => d.delta > 0);
  }, { timeoutMs, context: () => client.logs.slice(-20).join('\n') });
  const timings = await client.timings();
  return {
    firstFrameMs: timings['first-remote-frame'],
    timings,
    framesDecodedDeltas: flow.deltas!.filter((d) => d.kind === 'video').map((d) => d.delta),
    audioPacketDeltas: flow.deltas!.filter((d) => d.kind === 'audio').map((d) => d.delta),
    frameWidths: flow.current.filter((s) => s.kind === 'video').map((s) => s.frameWidth ?? 0),
  };
}

/** The safety desk page (src/client/desk.ts), as the tests see it. */
export interface DeskPage {
  readonly page: Page;
  readonly logs: string[];
  /** The /safety connection state: connecting, connected, reconnecting, error:<CODE>. */
  state(): Promise<string>;
  incidents(): Promise<{ id: string; room: string; kind: string; state: string; tier: number; firstSeenAt: number }[]>;
  /** Every panic event the page received, in order (event name, incident id, Date.now(); an alert's tier, and `replay` for a replayed one). */
  events(): Promise<{ event: string; incidentId: string; at: number; tier?: number; replay?: true }[]>;
}

/**
 * Opens `${baseUrl}/desk.html#token=<desk token>` in its own browser context and waits until it is
 * connected. `opts.context`: options of its browser context (e.g. `permissions`); `opts.initScript`:
 * run in the page before its own scripts.
 */
export async function openDesk(browser: Browser, baseUrl: string, token: string, name = 'desk', opts: { context?: BrowserContextOptions; initScript?: string } = {}): Promise<DeskPage> {
  const context = await browser.newContext(opts.context);
  if (opts.initScript) await context.addInitScript(opts.initScript);
  const page = await context.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${name} ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[${name} pageerror] ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) logs.push(`[${name} http] ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  await page.goto(`${baseUrl}/desk.html#${new URLSearchParams({ token }).toString()}`);
  const ev = <T>(expr: string) => page.evaluate(expr) as Promise<T>;
  const desk: DeskPage = {
    page,
    logs,
    state: () => ev<string>('window.safetyDesk.state'),
    incidents: () => ev('window.safetyDesk.incidents()'),
    events: () => ev('window.safetyDesk.events()'),
  };
  await pollUntil(`${name} to connect to /safety`, () => desk.state(), (s) => s === 'connected', { context: () => logs.slice(-20).join('\n') });
  return desk;
}

/**
 * Waits (polling in the page on every animation frame) until `expression` is truthy there, and
 * resolves with performance.now() in the test process at that moment.
 */
export async function whenTrueInPage(page: Page, expression: string, timeoutMs = 10_000): Promise<number> {
  await page.waitForFunction(expression, undefined, { timeout: timeoutMs, polling: 'raf' });
  return performance.now();
}

/**
 * Starts watching, inside the page, for `expression` to become truthy: checked on every animation
 * frame (just before the page is painted), and the first frame where it holds is recorded as
 * Date.now(). Pages of one browser share the machine's clock, so such times from different pages
 * compare directly (no test-process round trips in the measure). Read it with `probeTime`.
 */
export async function armProbe(page: Page, name: string, expression: string): Promise<void> {
  await page.evaluate(`(() => {
    const probes = (window.__probes ??= {});
    probes[${JSON.stringify(name)}] = undefined;
    const check = () => {
      if (${expression}) probes[${JSON.stringify(name)}] = Date.now();
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  })()`);
}

/** Waits for the probe armed by `armProbe` to fire; resolves with the page's Date.now() then. */
export function probeTime(page: Page, name: string, timeoutMs = 10_000): Promise<number> {
  return pollUntil(`probe ${name}`, () => page.evaluate(`window.__probes?.[${JSON.stringify(name)}]`) as Promise<number | undefined>,
    (t) => t !== undefined, { timeoutMs, intervalMs: 50 }) as Promise<number>;
}
