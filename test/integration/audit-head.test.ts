import { Writable } from 'node:stream';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN, startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, sink };
}

const servers: TestServer[] = [];
afterAll(async () => { for (const s of servers.reverse()) await s.close(); });

async function json(srv: TestServer, path: string): Promise<any> {
  return (await fetch(`${srv.url}${path}`, { headers: admin })).json();
}

describe('the audit head, exported', () => {
  it('is shown by the admin API, counted in a metric, logged at start, and reports truncation', async () => {
    const first = logSink();
    const srv = await startServer({}, first.sink);
    servers.push(srv);
    expect(first.lines.find((l) => l.msg === 'audit head')).toMatchObject({ level: 30, auditHead: { seq: 0 } });
    // A refused join writes one audit entry; 4 of them make a head at 4.
    for (let i = 0; i < 4; i++) {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('head-room', `kid-${i}`, 'student') });
      await c.request('join', {}).catch(() => undefined);
      c.close();
    }
    const trail = await srv.handle.store.auditTrail();
    expect(trail.length).toBeGreaterThanOrEqual(4);
    const newest = trail.at(-1)!;

    const head = await json(srv, '/admin/audit/head');
    expect(head).toEqual({ ok: true, checkpoint: { seq: newest.seq, hash: newest.hash, at: expect.any(String), keyId: 'local', mac: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(await json(srv, '/admin/audit/verify')).toMatchObject({ ok: true, entries: trail.length, checkpoint: head.checkpoint });
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^sfu_audit_head_position ${newest.seq}$`, 'm'));
    expect(metrics).not.toMatch(/sfu_audit_head_position\{/); // no labels

    // Another process deletes the 3 newest entries from the file.
    const db = new DatabaseSync(join(srv.dataDir, 'records.db'));
    db.prepare('DELETE FROM audit WHERE seq > ?').run(newest.seq - 3);
    db.close();
    expect(await json(srv, '/admin/audit/verify')).toMatchObject({ ok: false, brokenAt: newest.seq - 2, firstMissing: newest.seq - 2 });
    expect(await json(srv, '/admin/audit/head')).toMatchObject({ ok: false, firstMissing: newest.seq - 2, checkpoint: { seq: newest.seq } });
    await srv.handle.close();

    // A restart says so at once, in the log, with positions and hashes only.
    const second = logSink();
    const again = await startServer({ dataDir: srv.dataDir }, second.sink);
    servers.push(again);
    const line = second.lines.find((l) => l.msg === 'audit trail does not reach its signed head checkpoint');
    expect(line).toMatchObject({ level: 50, firstMissing: newest.seq - 2, auditHead: { seq: newest.seq, hash: newest.hash } });
    expect(JSON.stringify(line)).not.toMatch(/kid-/);
    expect(await (await fetch(`${again.url}/metrics`)).text()).toMatch(new RegExp(`^sfu_audit_head_position ${newest.seq}$`, 'm'));
  });
});
