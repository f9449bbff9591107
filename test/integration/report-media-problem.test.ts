import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';
import { sendInOneWrite } from '../helpers/one-write.ts';
import { until } from '../helpers/until.ts';

let srv: TestServer;
const logLines: string[] = [];
beforeAll(async () => {
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  srv = await startServer({}, stream);
});
afterAll(async () => { await srv.close(); });

const scrape = async () => (await fetch(`${srv.url}/metrics`)).text();

describe('reportMediaProblem: what a page could not connect reaches the operator', () => {
  it('is refused before join and with an unknown code; once joined it is logged (ids and code only) and counted', async () => {
    const token = srv.mint('problem-1', 'student-7731', 'student');
    const c = await RtcClient.connect(srv.wsUrl, { token });
    expect((await c.raw('reportMediaProblem', { code: 'MEDIA_ICE_FAILED', direction: 'recv' })).error.code).toBe('NOT_JOINED');
    const info = await c.request('join', {});
    expect((await c.raw('reportMediaProblem', { code: 'MEDIA_SOMETHING', direction: 'recv' })).error.code).toBe('INVALID_REQUEST');
    expect((await c.raw('reportMediaProblem', { code: 'MEDIA_ICE_FAILED', direction: 'sideways' })).error.code).toBe('INVALID_REQUEST');
    expect((await c.raw('reportMediaProblem', { code: 'MEDIA_ICE_FAILED', direction: 'recv', note: 'x' })).error.code).toBe('INVALID_REQUEST');

    expect(await c.request('reportMediaProblem', { code: 'MEDIA_ICE_FAILED', direction: 'recv' })).toEqual({});
    expect(await c.request('reportMediaProblem', { code: 'MEDIA_ICE_FAILED', direction: 'recv', cleared: true })).toEqual({});
    const metrics = await scrape();
    expect(metrics).toContain('sfu_client_media_problems_total{code="MEDIA_ICE_FAILED",state="reported"} 1');
    expect(metrics).toContain('sfu_client_media_problems_total{code="MEDIA_ICE_FAILED",state="cleared"} 1');

    const said = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === 'MEDIA_ICE_FAILED');
    expect(said.map((l) => l.msg)).toEqual(['client media problem', 'client media problem cleared']);
    expect(said[0]).toMatchObject({ room: 'problem-1', participant: info.participantId, role: 'student', direction: 'recv', cleared: false });
    for (const l of said) {
      expect(JSON.stringify(l)).not.toContain('student-7731');
      expect(JSON.stringify(l)).not.toContain(token);
    }
    c.close();
  });

  it('only changes are logged and counted: repeats sent in one write, and a clearing of nothing, leave one line each', async () => {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('problem-2', 'student-2', 'student') });
    const info = await c.request('join', {});
    const mine = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.participant === info.participantId && l.code !== undefined);
    const before = await scrape();
    const count = (m: string, state: string) => Number(new RegExp(`sfu_client_media_problems_total\\{code="MEDIA_NO_INBOUND",state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? 0);

    // A clearing of a problem never reported: answered, not logged.
    expect(await c.request('reportMediaProblem', { code: 'MEDIA_NO_INBOUND', direction: 'recv', cleared: true })).toEqual({});
    // The same report five times in one write, then cleared twice, then reported again.
    sendInOneWrite(c.ws, Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, method: 'reportMediaProblem', data: { code: 'MEDIA_NO_INBOUND', direction: 'recv' } })));
    await until(() => c.orphanReplies.length === 5, 'five replies');
    expect(c.orphanReplies.every((r) => r.ok)).toBe(true);
    await c.request('reportMediaProblem', { code: 'MEDIA_NO_INBOUND', direction: 'recv', cleared: true });
    await c.request('reportMediaProblem', { code: 'MEDIA_NO_INBOUND', direction: 'recv', cleared: true });
    // Another direction is another problem.
    await c.request('reportMediaProblem', { code: 'MEDIA_NO_INBOUND', direction: 'send' });
    await c.request('reportMediaProblem', { code: 'MEDIA_NO_INBOUND', direction: 'recv' });

    await until(() => mine().length >= 4, 'the log lines');
    expect(mine().map((l) => `${l.msg} ${l.direction}`)).toEqual([
      'client media problem recv', 'client media problem cleared recv', 'client media problem send', 'client media problem recv',
    ]);
    const after = await scrape();
    expect(count(after, 'reported') - count(before, 'reported')).toBe(3);
    expect(count(after, 'cleared') - count(before, 'cleared')).toBe(1);
    c.close();
  });
});
