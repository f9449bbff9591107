import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type AppHandle } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { mintToken, type MintOptions } from '../../src/auth/mint.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestServer {
  readonly handle: AppHandle;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** ws://127.0.0.1:PORT/rtc */
  readonly wsUrl: string;
  readonly dataDir: string;
  mint(room: string, identity: string, role: MintOptions['role'], extra?: Partial<MintOptions>): string;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1 (random HTTP and RTC ports, one worker, a temp data dir). */
export async function startServer(overrides: Record<string, unknown> = {}, logStream?: NodeJS.WritableStream): Promise<TestServer> {
  const ownDir = typeof overrides.dataDir !== 'string';
  const dataDir = ownDir ? mkdtempSync(join(tmpdir(), 'sfu-test-')) : (overrides.dataDir as string);
  const base: Record<string, unknown> = {
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    log: { level: process.env.SFU_TEST_LOG_LEVEL ?? 'silent' },
    jwt: { secret: TEST_SECRET },
    admin: { token: TEST_ADMIN_TOKEN },
    media: { workers: 1, rtcPort: 0, listenIp: '127.0.0.1', announcedIp: '' },
  };
  const config = loadConfig({ env: {}, overrides: deepMerge(base, overrides) });
  const handle = await buildApp({ config, logger: createLogger(logStream ? 'debug' : config.log.level, logStream) });
  const address = await handle.fastify.listen({ host: '127.0.0.1', port: 0 });
  const url = address.replace('localhost', '127.0.0.1');
  return {
    handle,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/rtc`,
    dataDir,
    mint: (room, identity, role, extra = {}) => mintToken(TEST_SECRET, { room, identity, role, ttlSeconds: 600, ...extra }),
    async close() {
      await handle.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] = av && typeof av === 'object' && !Array.isArray(av) && v && typeof v === 'object' && !Array.isArray(v)
      ? deepMerge(av as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}
