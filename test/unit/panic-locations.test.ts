import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Location } from '../../src/store/types.ts';
import { LatestLocations, locator, rememberLocations, type RoomLookup } from '../../src/safety/panic/locations.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { KEY_A, admission } from '../store/store-suite.ts';

const HERE: Location = { description: 'Lincoln Elementary, room 12', region: 'US-CA', source: 'device-geolocation', capturedAt: '2026-11-22T10:00:00.000Z', coordinates: { lat: 37.1, lon: -122.2 }, emergencyContact: { name: 'R. Contact', phone: '+1 555 0100' } };
const log = createLogger('silent');

/** One room with the given participants' in-memory facts. */
function rooms(participants: Record<string, { location?: { region: string; description: string }; emergencyContact?: { name: string; phone: string } }>): RoomLookup {
  return { get: (room) => (room === 'room-1' ? { participant: (id) => (participants[id] ? { facts: participants[id]! } : undefined) } : undefined) };
}

afterEach(() => vi.useRealTimers());

describe('panic alert locations', () => {
  it('a participant on this node: its latest committed record from memory, the store is not asked', async () => {
    const memory = new LatestLocations();
    memory.set('p1', HERE);
    const store = { latestLocation: vi.fn(async () => undefined) };
    const locate = locator({ rooms: rooms({ p1: { location: { region: 'US-CA', description: 'x' } } }), memory, store, deadlineMs: 250, log });
    expect(await locate('p1', 'room-1')).toEqual(HERE);
    expect(store.latestLocation).not.toHaveBeenCalled();
  });

  it('falls back to the room summary (region, description, contact) when no full record is remembered', async () => {
    const locate = locator({
      rooms: rooms({ p1: { location: { region: 'US-NV', description: 'Home' }, emergencyContact: { name: 'Mum', phone: '+1 555 0101' } } }),
      memory: new LatestLocations(), store: { latestLocation: async () => HERE }, deadlineMs: 250, log,
    });
    expect(await locate('p1', 'room-1')).toEqual({ region: 'US-NV', description: 'Home', emergencyContact: { name: 'Mum', phone: '+1 555 0101' } });
  });

  it('a participant not on this node: a store read, bounded by the deadline (a hung store gives no location, in time)', async () => {
    vi.useFakeTimers();
    const answering = locator({ rooms: rooms({}), memory: new LatestLocations(), store: { latestLocation: async () => HERE }, deadlineMs: 250, log });
    expect(await answering('gone', 'room-1')).toEqual(HERE);
    const hung = locator({ rooms: rooms({}), memory: new LatestLocations(), store: { latestLocation: () => new Promise(() => undefined) }, deadlineMs: 250, log });
    const found = hung('gone', 'room-1');
    await vi.advanceTimersByTimeAsync(249);
    let settled = false;
    void found.then(() => { settled = true; });
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await found).toBeUndefined();
  });

  it('LatestLocations keeps the most recently recorded, bounded', () => {
    const m = new LatestLocations(2);
    m.set('a', HERE);
    m.set('b', HERE);
    m.set('a', { ...HERE, region: 'US-OR' });
    m.set('c', HERE);
    expect([m.get('a')?.region, m.get('b'), m.get('c')?.region]).toEqual(['US-OR', undefined, 'US-CA']);
    expect(m.size).toBe(2);
  });

  it('rememberLocations records what the store committed (admissions and updates), and nothing it refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfu-locations-'));
    const sqlite = new SqliteStore(join(dir, 'records.db'), new FieldCipher([KEY_A]));
    try {
      await sqlite.migrate();
      const memory = new LatestLocations();
      const store = rememberLocations(sqlite, memory);
      await store.recordAdmission(admission('s1'));
      expect(memory.get('s1')).toEqual(admission('s1').location);
      await store.recordLocation({ sessionId: 's1', room: 'room-1', identity: 'id-s1', location: HERE, at: new Date() });
      expect(memory.get('s1')).toEqual(HERE);
      // Refused (the same session admitted twice): not remembered.
      await expect(store.recordAdmission(admission('s1', { location: { ...HERE, region: 'US-WA' } }))).rejects.toThrow();
      expect(memory.get('s1')).toEqual(HERE);
      // Everything else is the store's own.
      expect(await store.latestLocation('s1')).toMatchObject({ region: 'US-CA', source: 'device-geolocation' });
      expect((await store.verifyAudit()).ok).toBe(true);
    } finally {
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
