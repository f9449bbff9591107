import { createSocket } from 'node:dgram';
import { sendTimeOf } from '../lib/rtp-generator.ts';

/** Counts RTP packets arriving on one UDP port (RTCP excluded), and one-way latency when readable. */
export class CountingSink {
  readonly socket = createSocket('udp4');
  packets = 0;
  probes = 0;
  readonly latenciesMs: number[] = [];
  #readLatency = false;

  async bind(readLatency: boolean): Promise<number> {
    this.#readLatency = readLatency;
    this.socket.on('message', (msg) => {
      const pt = msg[1]! & 0x7f;
      if (pt >= 72 && pt <= 79) return; // RTCP
      if (pt === 127) { this.probes++; return; } // mediasoup's bandwidth probation packets, not media
      this.packets++;
      if (this.#readLatency) {
        const sent = sendTimeOf(msg);
        if (sent !== undefined) this.latenciesMs.push(performance.timeOrigin + performance.now() - sent);
      }
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    try {
      this.socket.setRecvBufferSize(8 * 1024 * 1024);
    } catch { /* capped by net.core.rmem_max */ }
    return (this.socket.address() as { port: number }).port;
  }

  close(): void {
    this.socket.close();
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
