/**
 * Lean defaults for a 1:1 telepractice session (issue #18), each measured on its own: the 1:1
 * scenario of bench/media/sessions.ts at a fixed size below saturation, the baseline (the model the
 * media bench used before: continuous audio, AES_CM_128_HMAC_SHA1_80) and each variant changing ONE
 * thing, in one interleaved sequence with a baseline between every two runs (base, v1, base, v2,
 * ..., base; the variants' order reversed every other repetition): on a shared host whose speed
 * drifts within tens of seconds, every variant run is compared with the mean of the two baseline
 * runs around it. Per variant: worker CPU per session relative to those baselines, per repetition,
 * median and min-max; whether the service level held.
 */
import type { types } from 'mediasoup';
import { CONTINUOUS, describe, oneToOne, runStep, SESSION_MODEL, TURN_TAKING, type Speech, type StepResult } from './sessions.ts';

export interface Variant { readonly name: string; readonly why: string; readonly speech: Speech; readonly srtpCryptoSuite: types.SrtpCryptoSuite }

export const BASELINE: Variant = { name: 'baseline', why: 'the model before: continuous audio, AES_CM_128_HMAC_SHA1_80', speech: CONTINUOUS, srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80' };
/** The two kept variants below together (turn-taking with DTX, AEAD_AES_256_GCM): the base of the further study. */
export const REALISTIC: Variant = { name: 'realistic', why: 'turn-taking speech with Opus DTX, AEAD_AES_256_GCM', speech: TURN_TAKING, srtpCryptoSuite: 'AEAD_AES_256_GCM' };

export const VARIANTS: readonly Variant[] = [
  { ...BASELINE, name: 'turn-taking + Opus DTX', why: 'one person speaks at a time; the browser client already asks for opusDtx', speech: TURN_TAKING },
  { ...BASELINE, name: 'AEAD_AES_256_GCM', why: 'the suite mediasoup picks when a browser offers GCM (its preference order; Chromium and Firefox offer it)', srtpCryptoSuite: 'AEAD_AES_256_GCM' },
  { ...BASELINE, name: 'AEAD_AES_128_GCM', why: 'the cheapest suite browsers accept, if mediasoup preferred it', srtpCryptoSuite: 'AEAD_AES_128_GCM' },
  { ...BASELINE, name: 'Opus ptime 40 ms', why: 'half the audio packets, 20 ms more audio latency', speech: { turnTaking: false, ptimeMs: 40 } },
];

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Worker CPU seconds per second per session (from the step's worker CPU %). */
const perSession = (s: StepResult) => s.workerCpuPercent / 100 / s.size;

/** Further variants on top of the realistic model (measured against it). */
export const ON_REALISTIC: readonly Variant[] = [
  // = SESSION_MODEL of sessions.ts (kept: the browser client asks for 40 ms frames).
  { ...REALISTIC, name: 'realistic + Opus ptime 40 ms', why: 'half the audio packets while someone speaks, 20 ms more audio latency', ...SESSION_MODEL },
];

export async function leanStudy(opts: { quick: boolean; size: number; log: (line: string) => void; base?: Variant; variants?: readonly Variant[] }) {
  const variants = opts.variants ?? VARIANTS;
  const BASE = opts.base ?? BASELINE;
  const timing = opts.quick ? { warmupMs: 3000, windowMs: 1000 } : { warmupMs: 6000, windowMs: 3000 };
  const reps = opts.quick ? 1 : 4;
  const sequence: Variant[] = [BASE];
  for (let r = 0; r < reps; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) sequence.push(v, BASE);
  }
  const steps: { variant: string; step: StepResult }[] = [];
  for (const v of sequence) {
    const step = await runStep({ scenario: 'sessions', size: opts.size, rooms: oneToOne(opts.size), dynacast: true, probes: 4, ...timing, speech: v.speech, srtpCryptoSuite: v.srtpCryptoSuite });
    opts.log(`lean ${v.name}: ${describe(step)}`);
    steps.push({ variant: v.name, step });
  }
  // Each variant run against the mean of the nearest baselines before and after it.
  const relative = new Map<string, number[]>();
  steps.forEach(({ variant, step }, i) => {
    if (variant === BASE.name) return;
    const before = steps.slice(0, i).reverse().find((s) => s.variant === BASE.name)!;
    const after = steps.slice(i + 1).find((s) => s.variant === BASE.name)!;
    const base = (perSession(before.step) + perSession(after.step)) / 2;
    relative.set(variant, [...(relative.get(variant) ?? []), perSession(step) / base]);
  });
  const baseRuns = steps.filter((s) => s.variant === BASE.name).map((s) => s.step);
  return {
    size: opts.size,
    windowSeconds: timing.windowMs / 1000,
    baseline: { ...BASE, workerCpuPercent: baseRuns.map((s) => s.workerCpuPercent), withinServiceLevel: baseRuns.every((s) => s.withinServiceLevel) },
    variants: variants.map((v) => {
      const runs = steps.filter((s) => s.variant === v.name).map((s) => s.step);
      const rel = relative.get(v.name) ?? [];
      return {
        name: v.name, why: v.why, speech: v.speech, srtpCryptoSuite: v.srtpCryptoSuite,
        /** Worker CPU per session / the baseline's (< 1: cheaper). */
        cpuPerSessionVsBaseline: { median: round3(median(rel)), min: round3(Math.min(...rel)), max: round3(Math.max(...rel)), runs: rel.map(round3) },
        workerCpuPercent: runs.map((s) => s.workerCpuPercent),
        forwardedPps: runs.map((s) => s.forwardedPps),
        loss: runs.map((s) => s.loss),
        latencyP99Ms: runs.map((s) => s.latencyP99Ms),
        withinServiceLevel: runs.every((s) => s.withinServiceLevel),
      };
    }),
    steps: steps.map(({ variant, step }) => ({ variant, ...step })),
  };
}
