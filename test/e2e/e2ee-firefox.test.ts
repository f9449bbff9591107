import { describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.ts';
import { openClient, pollUntil, useServerAndBrowser, waitForMediaFlow, waitForState } from '../helpers/browser.ts';
import { missingChromiumOrFirefox, openFirefoxClient, useFirefox } from '../helpers/firefox.ts';
import type { FrameCryptoStats } from '../../src/client/e2ee-frame-crypto.ts';

/**
 * Issue #16: Firefox ESR <-> Chromium with end-to-end encryption required. Both have
 * RTCRtpScriptTransform (Firefox since 117, Chromium 156): each page encrypts its frames in its
 * worker and decrypts the other's, and both show the same security code.
 */
const missing = missingChromiumOrFirefox();
if (missing.length > 0) console.warn(`\n!! SKIPPING the Firefox <-> Chromium E2EE e2e test: no ${missing.join(', no ')}\n`);

const ROOM = 'e2e-e2ee-firefox';

function link(server: TestServer, identity: string, role: 'clinician' | 'student') {
  return { token: server.mint(ROOM, identity, role), policy: server.handle.config.consent.policyVersions[0]! };
}

describe.skipIf(missing.length > 0)('E2EE required: Firefox and Chromium in one room', () => {
  const env = useServerAndBrowser({ e2ee: { mode: 'required' } });
  const firefox = useFirefox();

  it('each decodes the other\'s encrypted video and audio; the same security code on both', async () => {
    const clinician = await openClient(env.browser, env.server.url, 'clinician (Chromium)', link(env.server, 'clinician-1', 'clinician'));
    await waitForState(clinician, 'joined');
    const student = await openFirefoxClient(firefox.browser, env.server.url, 'student (Firefox)', link(env.server, 'student-1', 'student'));
    await waitForState(student, 'joined', 20_000);
    await Promise.all([waitForMediaFlow(clinician, { timeoutMs: 20_000 }), waitForMediaFlow(student, { timeoutMs: 20_000 })]);
    const e2ee = async (evaluate: (e: string) => Promise<unknown>) => ({
      state: await evaluate('window.sfuClient.e2ee()') as { api: string; active: boolean; code: string; epoch: number },
      stats: await evaluate('window.sfuClient.e2eeStats()') as FrameCryptoStats,
    });
    const enough = (x: { stats: FrameCryptoStats }) => x.stats.encrypted > 50 && x.stats.decrypted > 50;
    const c = await pollUntil('Chromium to encrypt and decrypt 50 frames', () => e2ee((e) => clinician.page.evaluate(e)), enough);
    const f = await pollUntil('Firefox to encrypt and decrypt 50 frames', () => e2ee((e) => student.page.evaluate(e)), enough);
    console.log(`[e2e e2ee firefox] Chromium ${JSON.stringify(c.state)} ${JSON.stringify({ ...c.stats, receiving: undefined })}\n`
      + `[e2e e2ee firefox] Firefox ${JSON.stringify(f.state)} ${JSON.stringify({ ...f.stats, receiving: undefined })}`);
    expect(f.state).toMatchObject({ api: 'script-transform', active: true, epoch: 0 });
    expect(c.state).toMatchObject({ active: true, epoch: 0 });
    expect(f.state.code).toBe(c.state.code);
    for (const s of [c.stats, f.stats]) expect(s.dropped.authFailed + s.dropped.malformed).toBe(0);
  }, 90_000);
});
