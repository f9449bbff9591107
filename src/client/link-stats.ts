import type { ConsumerRef, Direction, IcePath, InboundStat, OutboundStat } from './media-sample.ts';

/** The inbound-rtp streams of `report` whose track belongs to one of the consumers (by track id). */
export function parseInbound(report: RTCStatsReport, byTrack: ReadonlyMap<string, ConsumerRef>): InboundStat[] {
  const out: InboundStat[] = [];
  report.forEach((s: RTCStats) => {
    if (s.type !== 'inbound-rtp') return;
    const r = s as RTCInboundRtpStreamStats & { freezeCount?: number; totalFreezesDuration?: number; totalSamplesReceived?: number; concealedSamples?: number };
    const owner = r.trackIdentifier ? byTrack.get(r.trackIdentifier) : undefined;
    if (!owner) return;
    out.push({
      id: r.id,
      consumerId: owner.consumerId,
      participantId: owner.participantId,
      source: owner.source,
      kind: r.kind === 'audio' ? 'audio' : 'video',
      packetsReceived: r.packetsReceived ?? 0,
      bytesReceived: r.bytesReceived ?? 0,
      packetsLost: r.packetsLost,
      jitter: r.jitter,
      framesDecoded: r.framesDecoded,
      frameWidth: r.frameWidth,
      frameHeight: r.frameHeight,
      framesPerSecond: r.framesPerSecond,
      freezeCount: r.freezeCount,
      totalFreezesDuration: r.totalFreezesDuration,
      totalSamplesReceived: r.totalSamplesReceived,
      concealedSamples: r.concealedSamples,
    });
  });
  return out;
}

/** The outbound streams of `report` of one kind (video: one per encoding), with their codec's mime type. */
export function parseOutbound(report: RTCStatsReport, kind: 'audio' | 'video' = 'video'): OutboundStat[] {
  const codecs = new Map<string, string>();
  report.forEach((s: RTCStats) => {
    if (s.type === 'codec') codecs.set(s.id, (s as unknown as { mimeType: string }).mimeType);
  });
  const out: OutboundStat[] = [];
  report.forEach((s: RTCStats) => {
    if (s.type !== 'outbound-rtp' || (s as RTCOutboundRtpStreamStats).kind !== kind) return;
    const r = s as RTCOutboundRtpStreamStats & { active?: boolean; scalabilityMode?: string };
    out.push({
      id: r.id,
      kind,
      rid: r.rid,
      active: r.active,
      codec: r.codecId ? codecs.get(r.codecId) : undefined,
      scalabilityMode: r.scalabilityMode,
      bytesSent: r.bytesSent ?? 0,
      packetsSent: r.packetsSent ?? 0,
      frameWidth: r.frameWidth,
      frameHeight: r.frameHeight,
    });
  });
  return out;
}

interface TransportStats {
  selectedCandidatePairId?: string;
  dtlsState?: string;
  iceState?: string;
}

function transportOf(report: RTCStatsReport): TransportStats | undefined {
  let t: TransportStats | undefined;
  report.forEach((s: RTCStats) => {
    if (s.type === 'transport') t ??= s as unknown as TransportStats;
  });
  return t;
}

/** Seconds: the round trip of the transport's selected candidate pair, when there is one. */
export function selectedRtt(report: RTCStatsReport): number | undefined {
  const id = transportOf(report)?.selectedCandidatePairId;
  const pair = id ? report.get(id) as { currentRoundTripTime?: number } | undefined : undefined;
  return pair?.currentRoundTripTime;
}

/**
 * Which handshake a transport that did not connect is stuck in: 'dtls' when ICE found a working
 * path (a pair succeeded, or the transport's ICE state says connected) but DTLS did not complete;
 * 'ice' otherwise (no path at all: blocked ports, a firewall, a VPN).
 */
export function stuckIn(report: RTCStatsReport): 'ice' | 'dtls' {
  const t = transportOf(report);
  if (t?.dtlsState === 'failed') return 'dtls';
  let paired = t?.iceState === 'connected' || t?.iceState === 'completed';
  report.forEach((s: RTCStats) => {
    if (s.type === 'candidate-pair' && (s as RTCIceCandidatePairStats).state === 'succeeded') paired = true;
  });
  return paired && t?.dtlsState !== 'connected' ? 'dtls' : 'ice';
}

/** The candidate pair a transport uses now (its selected pair, or a nominated succeeded one), undefined before ICE connected. */
export function selectedPath(report: RTCStatsReport, direction: Direction): IcePath | undefined {
  const byId = new Map<string, Record<string, unknown>>();
  report.forEach((s: RTCStats) => byId.set(s.id, s as unknown as Record<string, unknown>));
  const transport = [...byId.values()].find((s) => s.type === 'transport');
  const pair = (transport?.selectedCandidatePairId ? byId.get(transport.selectedCandidatePairId as string) : undefined)
    ?? [...byId.values()].find((s) => s.type === 'candidate-pair' && (s.selected === true || s.nominated === true) && s.state === 'succeeded');
  if (!pair) return undefined;
  const local = byId.get(pair.localCandidateId as string);
  const remote = byId.get(pair.remoteCandidateId as string);
  return {
    direction,
    localType: String(local?.candidateType ?? ''),
    protocol: String(local?.protocol ?? ''),
    ...(local?.relayProtocol ? { relayProtocol: String(local.relayProtocol) } : {}),
    remoteType: String(remote?.candidateType ?? ''),
    ...(remote?.address ? { remoteAddress: String(remote.address) } : {}),
    ...(typeof remote?.port === 'number' ? { remotePort: remote.port } : {}),
    ...(local?.address ? { localAddress: String(local.address) } : {}),
    ...(typeof local?.port === 'number' ? { localPort: local.port } : {}),
    state: String(pair.state ?? ''),
  };
}
