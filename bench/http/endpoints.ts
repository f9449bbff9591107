import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { startServer, TEST_ADMIN_TOKEN } from '../../test/helpers/server.ts';
import { pin } from '../lib/machine.ts';
import { populate, CONSUMERS_PER_ROOM } from './population.ts';

export interface EndpointResult {
  readonly name: string;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { p50: number; p99: number; max: number; mean: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly bytesPerResponse: number;
  /** CPU time of this process (the server, and its idle WebSocket clients) per request served. */
  readonly serverCpuUsPerRequest: number;
}

/**
 * autocannon against the operator endpoints of the real server while it holds `consumers` live
 * consumers (bench/http/population.ts): GET /metrics, /healthz, /readyz and the admin API's
 * GET /admin/rooms. autocannon runs in a child process pinned to core 0 (the mediasoup worker is
 * idle here: no media flows), the server and its WebSocket clients in this process on core 1.
 */
export async function httpBench(opts: { consumers: number; secondsPerEndpoint: number; connections: number }) {
  const loadAtStart = loadavg()[0]!;
  const srv = await startServer({ media: { workers: 1 } });
  const rooms = Math.ceil(opts.consumers / CONSUMERS_PER_ROOM);
  let pop: Awaited<ReturnType<typeof populate>> | undefined;
  try {
    pin(process.pid, 1);
    pop = await populate(srv, { rooms });
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const targets = [
      { name: 'metrics', url: `${srv.url}/metrics` },
      { name: 'healthz', url: `${srv.url}/healthz` },
      { name: 'readyz', url: `${srv.url}/readyz` },
      { name: 'adminRooms', url: `${srv.url}/admin/rooms`, headers: admin },
    ];
    const endpoints = await runCannon({ connections: opts.connections, seconds: opts.secondsPerEndpoint, targets });
    // The metrics body with this population, to show what a scrape carries.
    const body = await (await fetch(`${srv.url}/metrics`)).text();
    const consumersInMetrics = [...body.matchAll(/^sfu_consumers\{kind="\w+"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    return {
      bench: 'http',
      connections: opts.connections,
      secondsPerEndpoint: opts.secondsPerEndpoint,
      population: { rooms, participants: pop.participants, producers: pop.producers, consumers: pop.consumers, consumersInMetrics, setupSeconds: pop.setupSeconds },
      endpoints: Object.fromEntries(endpoints.map(({ name, ...r }) => [name, r])),
      metricsP99TargetMs: 25,
      loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0]! },
    };
  } finally {
    pop?.close();
    await srv.close();
  }
}

/** Runs the targets in the autocannon child; adds the server process's CPU per request for each. */
async function runCannon(plan: { connections: number; seconds: number; targets: { name: string; url: string; headers?: Record<string, string> }[] }): Promise<EndpointResult[]> {
  const child = spawn(process.execPath, [new URL('./cannon.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const limit = setTimeout(() => child.kill('SIGKILL'), (plan.targets.length * (plan.seconds + 10)) * 1000);
  const results: EndpointResult[] = [];
  try {
    pin(child.pid!, 0);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.end(JSON.stringify(plan));
    let cpu0 = process.cpuUsage();
    for await (const line of createInterface({ input: child.stdout })) {
      const msg = JSON.parse(line) as { start: string } | Omit<EndpointResult, 'serverCpuUsPerRequest'>;
      if ('start' in msg) {
        cpu0 = process.cpuUsage();
        continue;
      }
      const cpu = process.cpuUsage(cpu0);
      results.push({ ...msg, serverCpuUsPerRequest: Math.round(((cpu.user + cpu.system) / Math.max(1, msg.requests)) * 10) / 10 });
    }
    const code = await exited;
    if (code !== 0 || results.length !== plan.targets.length) throw new Error(`autocannon child exited with ${code} after ${results.length} targets`);
    return results;
  } finally {
    clearTimeout(limit);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
