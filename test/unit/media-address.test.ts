import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { resolveMediaAddress } from '../../src/media/address.ts';
import { loadConfig } from '../../src/config/load.ts';

function nic(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return { address, internal, family: v6 ? 'IPv6' : 'IPv4', netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null, ...(v6 ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
}

const LO = { lo: [nic('127.0.0.1', true), nic('::1', true)] };

describe('resolveMediaAddress (the development default of media.announcedIp)', () => {
  it('is what npm start gets: listen on 0.0.0.0, announced address empty', () => {
    const c = loadConfig({ env: {} });
    expect([c.media.listenIp, c.media.announcedIp]).toEqual(['0.0.0.0', '']);
  });

  it('announces the first non-loopback IPv4 address of the host, skipping link-local ones', () => {
    const host = { ...LO, eth0: [nic('169.254.3.4'), nic('fe80::1'), nic('fd00::2'), nic('192.0.2.2')], eth1: [nic('198.51.100.9')] };
    expect(resolveMediaAddress('0.0.0.0', '', host)).toEqual({ listenIp: '0.0.0.0', announcedIp: '192.0.2.2', source: 'host-interface' });
    expect(resolveMediaAddress('::', '', host)).toEqual({ listenIp: '::', announcedIp: '192.0.2.2', source: 'host-interface' });
  });

  it('on an IPv6-only host announces its IPv6 address and listens on ::', () => {
    const host = { ...LO, eth0: [nic('fe80::1'), nic('2001:db8::5')] };
    expect(resolveMediaAddress('0.0.0.0', '', host)).toEqual({ listenIp: '::', announcedIp: '2001:db8::5', source: 'host-interface' });
  });

  it('falls back to 127.0.0.1 with a warning on a host with loopback only', () => {
    const r = resolveMediaAddress('0.0.0.0', '', { ...LO, eth0: [nic('fe80::1')] });
    expect(r).toMatchObject({ listenIp: '0.0.0.0', announcedIp: '127.0.0.1', source: 'loopback-fallback' });
    expect(r.warning).toMatch(/Firefox will not connect/);
  });

  it('leaves configured addresses alone: an announcedIp, or a specific listenIp (announced as it is)', () => {
    const host = { ...LO, eth0: [nic('192.0.2.2')] };
    expect(resolveMediaAddress('0.0.0.0', '203.0.113.10', host)).toEqual({ listenIp: '0.0.0.0', announcedIp: '203.0.113.10', source: 'configured' });
    expect(resolveMediaAddress('127.0.0.1', '', host)).toEqual({ listenIp: '127.0.0.1', announcedIp: undefined, source: 'configured' });
    expect(resolveMediaAddress('127.0.0.1', '127.0.0.1', host)).toEqual({ listenIp: '127.0.0.1', announcedIp: '127.0.0.1', source: 'configured' });
  });
});
