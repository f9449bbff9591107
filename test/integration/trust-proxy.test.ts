import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AdmissionRecord } from '../../src/store/types.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { RtcClient } from '../helpers/ws-client.ts';

/**
 * The address an admission record keeps, behind a reverse proxy (http.trustProxy): the peer's
 * address unless the peer is a listed proxy, then the rightmost address of X-Forwarded-For that is
 * not a listed proxy. The "proxy" here is the test's own client on 127.0.0.1 sending the header.
 */
let plain: TestServer;
let behindProxy: TestServer;
beforeAll(async () => {
  [plain, behindProxy] = await Promise.all([startServer(), startServer({ http: { trustProxy: ['127.0.0.1', '10.0.0.0/24'] } })]);
});
afterAll(async () => { await Promise.all([plain?.close(), behindProxy?.close()]); });

/** Joins through `srv` with these request headers; resolves with the remoteAddress of the admission record written. */
async function recordedAddress(srv: TestServer, headers: Record<string, string>): Promise<string> {
  const spy = vi.spyOn(srv.handle.store, 'recordAdmission');
  try {
    const c = await RtcClient.connect(srv.wsUrl, { token: srv.mint('proxy-room', `student-${Math.random()}`, 'student'), headers });
    try {
      await c.request('join', {});
    } finally {
      c.close();
    }
    const records = spy.mock.calls.map(([r]) => r as AdmissionRecord);
    expect(records).toHaveLength(1);
    return records[0]!.remoteAddress;
  } finally {
    spy.mockRestore();
  }
}

describe('client addresses behind a reverse proxy (http.trustProxy)', () => {
  it('by default records the peer (the proxy) and ignores X-Forwarded-For', async () => {
    expect(await recordedAddress(plain, {})).toBe('127.0.0.1');
    expect(await recordedAddress(plain, { 'x-forwarded-for': '203.0.113.7' })).toBe('127.0.0.1');
  });

  it('with the proxy listed, records the client address the proxy passed, never one a client made up in front of it', async () => {
    expect(await recordedAddress(behindProxy, { 'x-forwarded-for': '203.0.113.7' })).toBe('203.0.113.7');
    // A client's own header with a proxy appending (nginx's $proxy_add_x_forwarded_for): the rightmost untrusted.
    expect(await recordedAddress(behindProxy, { 'x-forwarded-for': '198.51.100.66, 203.0.113.7' })).toBe('203.0.113.7');
    // Through two listed proxies (a load balancer in 10.0.0.0/24, then the local nginx).
    expect(await recordedAddress(behindProxy, { 'x-forwarded-for': '203.0.113.7, 10.0.0.5' })).toBe('203.0.113.7');
    // A request straight from the proxy's address without the header: the proxy's address.
    expect(await recordedAddress(behindProxy, {})).toBe('127.0.0.1');
  });
});
