import { describe, expect, it } from 'vitest';
import { chromiumFor, openClient, pollUntil, waitForState, useServerAndBrowser, type ClientPage } from '../helpers/browser.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { until } from '../helpers/until.ts';

/**
 * The room's current dominant speaker for those who come later (issue #14): `activeSpeaker` is
 * notified only on a change, so the `join` response (new join and resume) carries the current one.
 * The speaker is a real Chromium page (its fake microphone's levels are what mediasoup's
 * ActiveSpeakerObserver needs: nothing but a browser sends real audio over ICE, DTLS and SRTP
 * here); the late joiners are real WebSocket clients, reading their join responses, and a second
 * page that publishes no microphone (so it can never take the speaker's place).
 */
const available = chromiumFor('the late-joiner speaker e2e test');

const ROOM = 'e2e-speaker-join';

describe.skipIf(!available)('the current speaker, for participants who join later', () => {
  const env = useServerAndBrowser();
  let speaker: ClientPage;
  let speakerId: string;
  let latePage: ClientPage;
  const link = (identity: string, role: 'clinician' | 'student', publish?: ('mic' | 'camera')[]) => ({
    token: env.server.mint(ROOM, identity, role, publish ? { publish } : {}),
    policy: env.server.handle.config.consent.policyVersions[0]!,
  });
  const joinAs = async (identity: string, data: Record<string, unknown> = {}) => {
    const c = await RtcClient.connect(env.server.wsUrl, { token: env.server.mint(ROOM, identity, 'student') });
    return { c, joined: await c.request('join', data) };
  };

  it('a participant joining after the speaker was named gets it in its join response, and on a resume', async () => {
    speaker = await openClient(env.browser, env.server.url, 'speaker', link('clinician-1', 'clinician'));
    await waitForState(speaker, 'joined');
    speakerId = (await speaker.participantId())!;
    await pollUntil('the room to name the clinician (alone with a microphone)', () => speaker.activeSpeaker(), (id) => id === speakerId, { timeoutMs: 20_000 });

    const late = await joinAs('student-1');
    const mic = late.joined.participants.find((p: { participantId: string }) => p.participantId === speakerId)
      ?.producers.find((p: { source: string }) => p.source === 'mic');
    expect(mic).toBeDefined();
    expect(late.joined.activeSpeaker).toEqual({ participantId: speakerId, producerId: mic.producerId });

    // Resumed on a new connection (the old one dropped): told again.
    late.c.close();
    await until(() => env.server.handle.rooms.get(ROOM)?.byIdentity('student-1')?.connected === false, 'the late joiner to be detached');
    const again = await joinAs('student-1', { resumeToken: late.joined.resumeToken });
    expect(again.joined.resumed).toBe(true);
    expect(again.joined.activeSpeaker).toEqual({ participantId: speakerId, producerId: mic.producerId });
    again.c.close();

    // The browser client takes it from its join response: the speaker stays the only microphone,
    // so no activeSpeaker notification follows, and the page names and outlines the speaker at once.
    latePage = await openClient(env.browser, env.server.url, 'late', link('student-2', 'student', ['camera']));
    await waitForState(latePage, 'joined');
    expect(await latePage.activeSpeaker()).toBe(speakerId);
    const classes = (await latePage.page.getAttribute(`[data-participant-id="${speakerId}"]`, 'class')) ?? '';
    expect(classes.split(' ')).toContain('speaking');
  }, 90_000);

  it('once the speaker left, nobody is named: not in a join response, not on the pages', async () => {
    await speaker.page.click('#leave');
    await waitForState(speaker, 'idle');
    await until(() => env.server.handle.rooms.get(ROOM)?.byIdentity('clinician-1') === undefined, 'the speaker to leave the room');
    const after = await joinAs('student-3');
    expect(after.joined.participants.map((p: { participantId: string }) => p.participantId)).not.toContain(speakerId);
    expect(after.joined).not.toHaveProperty('activeSpeaker');
    await pollUntil('the late page to name nobody', () => latePage.activeSpeaker(), (id) => id === undefined);
    expect(await latePage.page.locator('#tiles figure.speaking').count()).toBe(0);
    after.c.close();
    const errors = [...speaker.logs, ...latePage.logs].filter((l) => l.includes('pageerror'));
    expect(errors).toEqual([]);
  }, 60_000);
});
