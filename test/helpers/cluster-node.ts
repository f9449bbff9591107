import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { until } from './until.ts';
import { mintDeskToken, mintToken } from '../../src/auth/mint.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from './server.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

/**
 * Server processes of one test cluster on loopback (issue #13): each node with its own data dir,
 * HTTP port and public URL, all sharing Redis (and PostgreSQL when `storeUrl` is given), one
 * records key and the test secrets. `env` adds or overrides settings per test file.
 */
export class TestCluster {
  readonly #dirs: string[] = [];
  /** The nodes' records key (a test that opens the store itself needs it). */
  readonly recordsKey: { readonly id: string; readonly key: Buffer };
  readonly #keys: string;

  constructor(recordsKey: { id: string; key: Buffer } = { id: 'cluster', key: randomBytes(32) }) {
    this.recordsKey = recordsKey;
    this.#keys = JSON.stringify([{ id: recordsKey.id, key: recordsKey.key.toString('base64') }]);
  }

  async start(name: string, o: { redisUrl: string; storeUrl?: string; env?: Record<string, string> }): Promise<ServerProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), `sfu-${name}-`));
    this.#dirs.push(dataDir);
    const port = await freePort();
    return startServerProcess({
      SFU_DATA_DIR: dataDir, SFU_REDIS_URL: o.redisUrl, SFU_NODE_ID: name, ...(o.storeUrl ? { SFU_STORE_URL: o.storeUrl } : {}),
      SFU_HTTP_HOST: '127.0.0.1', SFU_HTTP_PORT: String(port), SFU_CLUSTER_PUBLIC_URL: `http://127.0.0.1:${port}`,
      SFU_RTC_PORT: '0', SFU_WORKERS: '1', SFU_LISTEN_IP: '127.0.0.1', SFU_ANNOUNCED_IP: '127.0.0.1',
      SFU_JWT_SECRET: TEST_SECRET, SFU_ADMIN_TOKEN: TEST_ADMIN_TOKEN, SFU_RECORDS_KEYS: this.#keys,
      SFU_LOG_LEVEL: 'info', SFU_DRAIN_TIMEOUT_SECONDS: '1', SFU_REDIS_CALL_TIMEOUT_MS: '500',
      ...o.env,
    });
  }

  /** The shared PostgreSQL store as the nodes see it (their records key), for a test's own reads. */
  async openStore(storeUrl: string): Promise<Store> {
    const dir = mkdtempSync(join(tmpdir(), 'sfu-cluster-store-'));
    this.#dirs.push(dir);
    return openStore(storeUrl, dir, [this.recordsKey]);
  }

  /** Removes the nodes' data dirs (stop the nodes first). */
  cleanUp(): void {
    for (const d of this.#dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Resolves once every node's /readyz reports Redis up (after a start, or Redis coming back). */
export async function everyNodeSeesRedis(nodes: Record<string, ServerProcess>, timeoutMs = 15_000): Promise<void> {
  await until(async () => (await Promise.all(Object.values(nodes).map(redisUpOn))).every(Boolean), 'every node to see Redis up', timeoutMs);
}

/** Whether the node's /readyz reports Redis up (its `details.redis`). */
export async function redisUpOn(node: ServerProcess): Promise<boolean> {
  const res = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) });
  const body = await res.json() as { details?: { redis?: { up: boolean } } };
  return body.details?.redis?.up === true;
}

/** A student's token for `room` (10 minutes), signed with the nodes' secret. */
export const studentToken = (room: string, identity: string): string => mintToken(TEST_SECRET, { room, identity, role: 'student', ttlSeconds: 600 });
/** A safety desk's token covering every room. */
export const deskToken = (identity: string): string => mintDeskToken(TEST_SECRET, { identity, rooms: ['*'] });

/** The name of the live node that has `room` open (asked through each node's admin API), or undefined. */
export async function roomHost(nodes: Record<string, ServerProcess>, room: string): Promise<string | undefined> {
  for (const [name, n] of Object.entries(nodes)) {
    if (n.child.exitCode !== null || n.child.signalCode !== null) continue;
    const res = await fetch(`${n.url}/admin/rooms/${encodeURIComponent(room)}/participants`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, signal: AbortSignal.timeout(3000) });
    if (res.status === 200) return name;
  }
  return undefined;
}
