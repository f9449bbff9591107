import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { safetyClient, type SafetyClient } from '../helpers/safety-client.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { loopbackServerEnv, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { observeFor, until } from '../helpers/until.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * Open incidents the store could not list at start-up (the read past its deadline; migrations went
 * through) are loaded by a retry later: every responder connected meanwhile gets each of them then,
 * once, as a replayed alert (real server process, real PostgreSQL).
 *
 * How the store is made slow for that read only: another session holds `LOCK TABLE incidents IN
 * ACCESS EXCLUSIVE MODE` (as a maintenance job would): migrations and the other start-up reads go
 * through, every read of `incidents` waits (and ends at the statement timeout). A SQLite lock held
 * by another process cannot do it (WAL: readers are never blocked by a writer), nor a SIGSTOP of
 * PostgreSQL (the migrations would hang too; stopping it between the two is a race).
 */

const KEYS = [{ id: 'late', key: randomBytes(32) }];
// Tier 1 far away: what a desk gets during the test comes from the replay, not from a tier coming due.
const TIERS = [{ afterSeconds: 0, notify: ['room-clinicians', 'desk'] }, { afterSeconds: 600, notify: ['desk'] }];

const cleanups: (() => void | Promise<void>)[] = [];
afterAll(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

function env(dataDir: string, storeUrl: string): Record<string, string> {
  return loopbackServerEnv({ dataDir, storeUrl, keys: KEYS, logLevel: 'warn' }, { SFU_PANIC_TIERS: JSON.stringify(TIERS) });
}

const mint = (room: string, identity: string, role: 'clinician' | 'student') => mintToken(TEST_SECRET, { room, identity, role, ttlSeconds: 600 });

/** Joins `identity` to `room` on /rtc and raises an alarm on /safety; resolves with the incident id. */
async function raise(srv: ServerProcess, room: string, identity: string): Promise<string> {
  const rtc = await RtcClient.connect(srv.wsUrl, { token: mint(room, identity, 'student') });
  await rtc.request('join', {});
  const safety = await safetyClient(srv.url, mint(room, identity, 'student'), 'websocket');
  try {
    const res = await safety.send('panic:raise', { kind: 'medical', silent: false, clientIncidentId: `late-${identity}` }, 10_000);
    if (!res.ok) throw new Error(`raise refused: ${JSON.stringify(res.error)}`);
    return res.data.incidentId as string;
  } finally {
    safety.close();
    rtc.close();
  }
}

const replayed = (c: SafetyClient, id: string) => c.events.filter((e) => e.event === 'panic:alert' && e.data?.incident?.id === id);

describe('open incidents read late at start-up (real server process, real PostgreSQL)', () => {
  it('a desk and a clinician connected while the store could not list them get each open incident once, when the retry loads it', async (ctx) => {
    const postgres = await startPostgres();
    if (!postgres) return ctx.skip('PostgreSQL is not available');
    cleanups.push(() => postgres.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-late-load-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

    // Three open incidents in the store (two in r1, one in r2), then the server dies.
    const first = await startServerProcess(env(dataDir, postgres.url));
    cleanups.push(() => first.kill());
    const r1 = [await raise(first, 'r1', 'kid-a'), await raise(first, 'r1', 'kid-b')];
    const r2 = await raise(first, 'r2', 'kid-c');
    await first.kill();

    // A maintenance session locks the incidents table: the restart's read of the open incidents waits.
    const locker = new pg.Client({ connectionString: postgres.url });
    await locker.connect();
    cleanups.push(() => locker.end().catch(() => undefined));
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE');

    const srv = await startServerProcess(env(dataDir, postgres.url), 60_000);
    cleanups.push(() => srv.kill());
    const deskAll = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-all', rooms: ['*'] }), 'websocket');
    const deskR1 = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-r1', rooms: ['r1'] }), 'polling');
    const clinician = await safetyClient(srv.url, mint('r1', 'doc', 'clinician'), 'websocket');
    cleanups.push(() => { deskAll.close(); deskR1.close(); clinician.close(); });
    // Their replays are done, and empty: the server does not know the incidents yet.
    for (const c of [deskAll, deskR1, clinician]) expect(await c.waitFor('panic:replayed', () => true, 10_000)).toEqual({ count: 0 });
    expect(srv.output()).toContain('could not read open panic incidents from the store');

    // One more desk connects as the lock goes: its replay and the late load race (either may send an incident, not both).
    const connecting = safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-racing', rooms: ['*'] }), 'polling');
    const releasedAt = performance.now();
    await locker.query('ROLLBACK');
    const racing = await connecting;
    cleanups.push(() => racing.close());
    await until(() => [...r1, r2].every((id) => replayed(deskAll, id).length > 0 && replayed(racing, id).length > 0) && r1.every((id) => replayed(deskR1, id).length > 0 && replayed(clinician, id).length > 0),
      'each open incident replayed to every responder in scope', 10_000);
    console.info(JSON.stringify({ measure: 'late-load-lock-release-to-replay-ms', ms: Math.round(performance.now() - releasedAt) }));
    // Several reload rounds later: still once each, and nothing out of scope.
    await observeFor(3000);
    for (const id of [...r1, r2]) {
      expect(replayed(deskAll, id).map((e) => e.data.replay)).toEqual([true]);
      expect(replayed(racing, id).map((e) => e.data.replay)).toEqual([true]);
    }
    for (const id of r1) {
      expect(replayed(deskR1, id).map((e) => e.data.replay)).toEqual([true]);
      expect(replayed(clinician, id).map((e) => e.data.replay)).toEqual([true]);
    }
    expect(replayed(deskR1, r2)).toEqual([]);
    expect(replayed(clinician, r2)).toEqual([]);
    const alert = replayed(deskAll, r1[0]!)[0]!.data;
    expect(alert).toMatchObject({ tier: 0, replay: true, incident: { id: r1[0], state: 'open', room: 'r1', identity: 'kid-a' }, participant: { identity: 'kid-a', role: 'student' } });
    expect(alert).toHaveProperty('location');
    expect(alert).toHaveProperty('emergencyContact');

    // A responder connecting now gets them in its own replay, once.
    const later = await safetyClient(srv.url, mintDeskToken(TEST_SECRET, { identity: 'desk-later', rooms: ['*'] }), 'websocket');
    cleanups.push(() => later.close());
    expect(await later.waitFor('panic:replayed', () => true, 10_000)).toEqual({ count: 3 });
    for (const id of [...r1, r2]) expect(replayed(later, id)).toHaveLength(1);
  }, 120_000);
});
