import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** Where the workers bind and what the ICE candidates name, after the development default is applied. */
export interface MediaAddress {
  readonly listenIp: string;
  /** undefined: mediasoup announces listenIp itself. */
  readonly announcedIp: string | undefined;
  /** How the address was chosen: configured, or picked from the host's interfaces. */
  readonly source: 'configured' | 'host-interface' | 'loopback-fallback';
  /** Set when the choice will not work for some clients (printed at start-up). */
  readonly warning?: string;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

function usable(a: NetworkInterfaceInfo): boolean {
  if (a.internal) return false;
  if (a.family === 'IPv4') return !a.address.startsWith('169.254.');
  // Link-local IPv6 needs a zone to be reached; a candidate cannot carry one.
  return !/^fe[89ab]/i.test(a.address);
}

/**
 * The development default (docs/configuration.md, "Addresses and NAT"): with `media.announcedIp`
 * empty and `media.listenIp` unspecified (0.0.0.0 or ::), announce the host's first non-loopback
 * IPv4 address (IPv6 when there is none), which both Chromium and Firefox on the same machine use
 * (stock Firefox ignores loopback candidates). Without one, 127.0.0.1 with a warning.
 * A configured `announcedIp`, or a specific `listenIp`, is used as it is.
 */
export function resolveMediaAddress(
  listenIp: string,
  announcedIp: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): MediaAddress {
  if (announcedIp) return { listenIp, announcedIp, source: 'configured' };
  if (!UNSPECIFIED.has(listenIp)) return { listenIp, announcedIp: undefined, source: 'configured' };
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter(usable);
  const v4 = all.find((a) => a.family === 'IPv4');
  const v6 = all.find((a) => a.family === 'IPv6');
  if (v4) return { listenIp, announcedIp: v4.address, source: 'host-interface' };
  // An IPv6 address is reachable only on an IPv6 socket ('::' takes IPv4 too: dual-stack on Linux).
  if (v6) return { listenIp: '::', announcedIp: v6.address, source: 'host-interface' };
  return {
    listenIp,
    announcedIp: '127.0.0.1',
    source: 'loopback-fallback',
    warning: 'this host has no non-loopback network interface, so media is announced on 127.0.0.1: '
      + 'Firefox will not connect (it ignores loopback candidates) and Chromium only with --allow-loopback-in-peer-connection',
  };
}
