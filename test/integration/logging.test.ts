import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

const lines: string[] = [];
const sink = new Writable({ write(chunk, _enc, cb) { lines.push(chunk.toString()); cb(); } });
let srv: TestServer;
beforeAll(async () => { srv = await startServer({}, sink); });
afterAll(async () => { await srv.close(); });

describe('logs', () => {
  it('never carry a token, a name or a resume token, even at debug level', async () => {
    const token = srv.mint('log-room', 'kid-7', 'student');
    const c = await RtcClient.connect(srv.wsUrl, { token });
    const joined = await c.request('join', { displayName: 'Jordan Quill-Appleby' });
    await c.raw('join', { displayName: 'Jordan Quill-Appleby' });
    const refused = await RtcClient.connect(srv.wsUrl, { token: srv.mint('log-room', 'kid-8', 'student'), room: 'other' }).catch((e) => e);
    expect(refused.status).toBe(403);
    await fetch(`${srv.url}/healthz?token=${token}`);
    c.close();
    await new Promise((r) => setTimeout(r, 100));
    const all = lines.join('');
    expect(lines.length).toBeGreaterThan(3); // the server did log this session
    expect(all).toContain('signalling connection refused');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]!);
    expect(all).not.toContain('Jordan');
    expect(all).not.toContain(joined.resumeToken);
  });
});
