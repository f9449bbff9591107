import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

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
});
