/**
 * autocannon in its own process (so its HTTP parsing does not share the server's event loop):
 * reads a JSON list of targets on stdin, runs them one after another, and prints one JSON line
 * as each starts ({"start": name}) and one with its result (so the parent can time the server's CPU
 * per target).
 *   stdin: { connections, seconds, targets: [{ name, url, headers? }] }
 */
import autocannon from 'autocannon';

interface Target { name: string; url: string; headers?: Record<string, string> }
interface Plan { connections: number; seconds: number; targets: Target[] }

let input = '';
for await (const chunk of process.stdin) input += chunk;
const plan = JSON.parse(input) as Plan;
for (const t of plan.targets) {
  process.stdout.write(`${JSON.stringify({ start: t.name })}\n`);
  const r = await autocannon({ url: t.url, connections: plan.connections, duration: plan.seconds, headers: t.headers ?? {}, timeout: 5 });
  process.stdout.write(`${JSON.stringify({
    name: t.name,
    requests: r.requests.total,
    requestsPerSecond: Math.round(r.requests.average),
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, mean: Math.round(r.latency.mean * 100) / 100 },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : 0,
  })}\n`);
}
