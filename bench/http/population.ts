import type { TestServer } from '../../test/helpers/server.ts';
import { RtcClient, opusParameters, vp8Parameters } from '../../test/helpers/ws-client.ts';

/**
 * Who is in each room, chosen for the default forwarding policy (students do not receive each
 * other): a clinician receives 3 publishers, a guardian 3, each student 2 (clinician, guardian).
 * With mic + camera each: 2 x (3 + 3 + 2 + 2) = 20 consumers per room.
 */
export const ROOM_ROLES = ['clinician', 'guardian', 'student', 'student'] as const;
export const CONSUMERS_PER_ROOM = 20;

export interface Population {
  readonly clients: RtcClient[];
  readonly rooms: number;
  readonly participants: number;
  /** Consumers the server holds (counted in its room registry), all resumed by their clients. */
  readonly consumers: number;
  readonly producers: number;
  readonly setupSeconds: number;
  close(): void;
}

/**
 * Fills a real server over its WebSocket protocol: every participant joins (with the helpers'
 * consent and location), publishes mic and camera on a send transport, opens a recv transport
 * (the server then creates consumers of the others' producers, as policy allows) and resumes each
 * consumer as a browser does. ICE never connects: producers and consumers exist, no media flows.
 * `parallelRooms` rooms fill at a time.
 */
export async function populate(srv: TestServer, opts: { rooms: number; parallelRooms?: number; prefix?: string }): Promise<Population> {
  const started = performance.now();
  const clients: RtcClient[] = [];
  const prefix = opts.prefix ?? 'load';
  let ssrc = 100_000;
  const fillRoom = async (r: number) => {
    const room = `${prefix}-${r}`;
    for (const [i, role] of ROOM_ROLES.entries()) {
      const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint(room, `${role}-${i}`, role) });
      clients.push(c);
      const joined = await c.request('join', {});
      const send = await c.request('createTransport', { direction: 'send' });
      await c.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusParameters(ssrc++), source: 'mic' });
      await c.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8Parameters(ssrc++), source: 'camera' });
      await c.request('createTransport', { direction: 'recv', rtpCapabilities: joined.routerRtpCapabilities });
    }
  };
  const parallel = opts.parallelRooms ?? 10;
  for (let r = 0; r < opts.rooms; r += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, opts.rooms - r) }, (_, k) => fillRoom(r + k)));
  }
  // Resume every consumer the server announced (paused at creation, as for a browser).
  await Promise.all(clients.map(async (c) => {
    for (const n of c.notifications.filter((x) => x.notification === 'newConsumer')) {
      await c.request('resumeConsumer', { consumerId: n.data.consumerId });
    }
  }));
  let consumers = 0;
  let producers = 0;
  for (const room of srv.handle.rooms.rooms) {
    for (const p of room.participants) {
      consumers += p.consumers.size;
      producers += p.producers.size;
    }
  }
  return {
    clients, rooms: opts.rooms, participants: clients.length, consumers, producers,
    setupSeconds: Math.round((performance.now() - started) / 100) / 10,
    close: () => { for (const c of clients) c.close(); },
  };
}
