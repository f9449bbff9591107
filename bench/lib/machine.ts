import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import mediasoup from 'mediasoup';

/** Facts that make a result comparable: CPU model, cores, kernel, Node and mediasoup versions. */
export function machineFacts() {
  let cpu = 'unknown';
  try {
    cpu = /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? cpu;
  } catch { /* lscpu missing */ }
  return { cpu, cores: cpus().length, kernel: release(), node: process.version, mediasoup: mediasoup.version };
}

/** Pins a process (all its threads) to one CPU when the machine has more than one; returns whether it did. */
export function pin(pid: number, cpu: number): boolean {
  if (cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
