import { describe, expect, it } from 'vitest';
import { chromiumFor, openClient, pollUntil, useServerAndBrowser, waitForState } from '../helpers/browser.ts';
import { until } from '../helpers/until.ts';
import { opusParameters, RtcClient } from '../helpers/ws-client.ts';

/**
 * notificationsDropped (docs/protocol.md "Notifications"): a student's page is away (its signalling
 * socket cut, and held connecting) while more than 500 notifications are sent to it; it resumes,
 * gets the 500 queued ones and notificationsDropped, and then takes the room from the join
 * response (a participant whose participantLeft was among the dropped ones is gone from the page)
 * and rebuilds its consumers (a new recv transport, consuming the clinician's microphone again).
 */
const available = chromiumFor('the browser e2e tests');

const ROOM = 'e2e-dropped';

describe.skipIf(!available)('browser client, notifications dropped while it was away', () => {
  // 520 pauses and resumes at once: the rate limit would refuse them.
  const env = useServerAndBrowser({ signalling: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000, maxRefusals: 100_000, refusalWindowSeconds: 10 } } });

  it('trusts the join response over the queued notifications and consumes again on a new recv transport', async () => {
    const server = env.server;
    const clinician = await RtcClient.connect(server.wsUrl, { token: server.mint(ROOM, 'clin', 'clinician') });
    const joined = await clinician.request('join', {});
    const send = await clinician.request('createTransport', { direction: 'send' });
    const { producerId } = await clinician.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: opusParameters() });

    const student = await openClient(env.browser, server.url, 'student',
      { token: server.mint(ROOM, 'kid', 'student'), policy: server.handle.config.consent.policyVersions[0]! }, { interceptSignalling: true });
    await waitForState(student, 'joined');
    const kid = () => server.handle.rooms.get(ROOM)?.byIdentity('kid');
    const recvOf = () => [...(kid()?.transports.entries() ?? [])].find(([, t]) => t.direction === 'recv')?.[0];
    const consumesMic = () => [...(kid()?.consumers.values() ?? [])].some((c) => c.producerId === producerId && !c.closed);
    await until(() => recvOf() !== undefined && consumesMic(), 'the student to consume the clinician\'s microphone', 20_000);
    const oldRecv = recvOf();

    // Away: the socket is cut and the page's reconnections wait.
    const release = student.holdSignalling();
    await student.dropSignalling();
    await clinician.waitFor('participantConnection', (d) => d.state === 'reconnecting');
    const guardian = await RtcClient.connect(server.wsUrl, { token: server.mint(ROOM, 'parent', 'guardian') });
    await guardian.request('join', {});
    for (let i = 0; i < 520; i++) await clinician.request(i % 2 === 0 ? 'pauseProducer' : 'resumeProducer', { producerId });
    // Its participantLeft is past the 500 queued for the student: dropped.
    await guardian.request('leave', {});
    release();

    await waitForState(student, 'joined');
    await pollUntil('the student\'s page to list only the clinician', () => student.remoteParticipants(), (ids) => ids.length === 1 && ids[0] === joined.participantId, { timeoutMs: 20_000 });
    await until(() => recvOf() !== undefined && recvOf() !== oldRecv && consumesMic(), 'a new recv transport consuming the microphone again', 20_000);
    expect([...kid()!.transports.values()].filter((t) => t.direction === 'recv')).toHaveLength(1);
    expect(await student.state()).toBe('joined');
    expect(student.logs.some((l) => l.includes('notifications dropped while away'))).toBe(true);
    clinician.close();
    await student.page.context().close();
  }, 90_000);
});
