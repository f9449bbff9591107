import { machineFacts } from '../lib/machine.ts';
import { FANOUT_STEPS, fanout, relay, type FanoutResult } from './fanout.ts';
import { headerExtensionStudy, rawMediasoupStudy } from './overhead.ts';
import { sessionScenarios } from './sessions.ts';

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

/**
 * The media bench: fan-out 1 to N with and without SRTP, and the plain UDP relay reference on the
 * same core in the same run. Scenario modules add their fields to the summary below.
 */
export async function mediaBench(quick: boolean, log: (line: string) => void) {
  const seconds = quick ? 2 : 6;
  // Top step: 384 x ~158 packets/s, about 60k forwarded packets/s (the worker near 30% of its core with SRTP here).
  const steps = quick ? [16] : FANOUT_STEPS;
  const top = steps.at(-1)!;
  const results: FanoutResult[] = [];
  for (const consumers of steps) {
    for (const srtp of [false, true]) {
      const r = await fanout({ consumers, seconds, srtp });
      results.push(r);
      log(`fanout 1->${consumers} srtp=${srtp}: ${r.forwardedPps} pkt/s, ${r.usPerPacket} us/pkt, worker ${r.workerCpuPercent}% CPU, loss ${r.loss}`);
    }
  }
  const ref = await relay({ consumers: top, seconds });
  log(`relay 1->${top}: ${ref.forwardedPps} pkt/s, ${ref.usPerPacket} us/pkt`);
  const rawReference = await rawMediasoupStudy(quick, top, log); // raw, oursInterleaved, overheadVsRawMediasoup[NoSrtp]
  const headerExtensions = await headerExtensionStudy(quick, quick ? top : 256, log);
  const scenarios = await sessionScenarios(quick, log); // sessions, groups, audioRoom, sessionsPerCore, consumersPerCore
  const at = (srtp: boolean) => results.find((r) => r.consumers === top && r.srtp === srtp)!;
  return {
    bench: 'media',
    quick,
    machine: machineFacts(),
    results,
    relay: { consumers: top, ...ref },
    efficiency: ratio(ref.usPerPacket, at(false).usPerPacket),
    srtpEfficiency: ratio(ref.usPerPacket, at(true).usPerPacket),
    ...rawReference,
    headerExtensions,
    ...scenarios,
  };
}
