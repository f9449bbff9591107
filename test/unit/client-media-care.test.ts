import { afterEach, describe, expect, it } from 'vitest';
import { MediaCare, type CaredLink } from '../../src/client/media-care.ts';
import type { Direction } from '../../src/client/media-sample.ts';
import { observeFor, until } from '../helpers/until.ts';

type State = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** A media link whose transports are in `states`; counts ICE restarts. */
function fakeLink(states: Partial<Record<Direction, State>>): CaredLink & { restarts: number } {
  return {
    closed: false,
    restarts: 0,
    events: { on: () => () => undefined },
    transportState: (d: Direction) => states[d],
    endpoints: () => [],
    stuckIn: async () => 'ice' as const,
    sampleRecv: async () => undefined,
    async restartIce() { this.restarts += 1; },
  };
}

const AFTER_MS = 40;
const cares: MediaCare<CaredLink>[] = [];
afterEach(() => { for (const c of cares.splice(0)) c.stop(); });

function care(link: CaredLink, rebuilt: CaredLink[]): MediaCare<CaredLink> {
  const c = new MediaCare(link, {
    sig: () => undefined, problem: () => undefined, quality: () => undefined,
    rebuild: async (l) => { rebuilt.push(l); }, rebuildAfterMs: AFTER_MS,
  });
  cares.push(c);
  return c;
}

describe('Try again (MediaCare): an ICE restart, then new transports if that did not connect', () => {
  it('restarts ICE at once and rebuilds the link once when a transport is still not connected after the wait', async () => {
    const link = fakeLink({ send: 'failed', recv: 'connected' });
    const rebuilt: CaredLink[] = [];
    await care(link, rebuilt).retry();
    expect(link.restarts).toBe(1);
    expect(rebuilt).toEqual([]);
    await until(() => rebuilt.length === 1, 'the rebuild', 2000);
    expect(rebuilt[0]).toBe(link);
    await observeFor(AFTER_MS * 3);
    expect(rebuilt).toHaveLength(1);
  });

  it('does not rebuild when both transports connected within the wait', async () => {
    const states: Partial<Record<Direction, State>> = { send: 'failed', recv: 'connecting' };
    const rebuilt: CaredLink[] = [];
    await care(fakeLink(states), rebuilt).retry();
    states.send = 'connected';
    states.recv = 'connected';
    await observeFor(AFTER_MS * 3);
    expect(rebuilt).toEqual([]);
  });

  it('a second Try again during the wait: still one rebuild', async () => {
    const link = fakeLink({ send: 'failed' });
    const rebuilt: CaredLink[] = [];
    const c = care(link, rebuilt);
    await c.retry();
    await c.retry();
    expect(link.restarts).toBe(2);
    await until(() => rebuilt.length === 1, 'the rebuild', 2000);
    await observeFor(AFTER_MS * 3);
    expect(rebuilt).toHaveLength(1);
  });

  it('stopped with its link (closed, replaced by a resume) during the wait: no rebuild', async () => {
    const rebuilt: CaredLink[] = [];
    const c = care(fakeLink({ send: 'failed', recv: 'failed' }), rebuilt);
    await c.retry();
    c.stop();
    await observeFor(AFTER_MS * 3);
    expect(rebuilt).toEqual([]);
    await c.retry();
    await observeFor(AFTER_MS * 3);
    expect(rebuilt).toEqual([]);
  });
});
