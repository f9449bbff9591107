/**
 * The server under fuzz: buildApp() from src/app.ts in this process, like the other benches
 * (test/helpers/server.ts does the same, but logs at debug when given a stream): a temp data dir,
 * one real mediasoup worker (MEDIASOUP_WORKER_BIN), HTTP and RTC on 127.0.0.1, a fresh token
 * secret and admin token, a short reconnect grace. Its error log lines (a handler that failed
 * with INTERNAL_ERROR logs its stack) are kept for the report.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildApp, type AppHandle } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { mintToken, type MintOptions } from '../../src/auth/mint.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

export interface FuzzServer {
  readonly handle: AppHandle;
  readonly url: string;
  readonly wsUrl: string;
  /** Error-level log lines of the server (parsed pino JSON), at most 200. */
  readonly errorLog: Record<string, unknown>[];
  errorLines: number;
  /** Error-level lines by message. */
  readonly errorsByMessage: Record<string, number>;
  mint(o: Omit<MintOptions, 'ttlSeconds'> & { ttlSeconds?: number }): string;
  close(): Promise<void>;
}

export async function startFuzzServer(opts: { reconnectGraceSeconds: number; maxParticipants: number; pingIntervalSeconds: number; logLevel: string }): Promise<FuzzServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sfu-fuzz-'));
  const secret = randomBytes(32).toString('hex');
  const errorLog: Record<string, unknown>[] = [];
  const server = { errorLines: 0, errorsByMessage: {} as Record<string, number> };
  const sink = new Writable({
    write(chunk: Buffer, _enc, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        server.errorLines++;
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          entry = { raw: line };
        }
        const msg = String(entry.msg ?? 'raw');
        server.errorsByMessage[msg] = (server.errorsByMessage[msg] ?? 0) + 1;
        if (errorLog.length < 200 || msg === 'handler failed') {
          if (errorLog.length < 400) errorLog.push(entry);
        }
      }
      callback();
    },
  });
  const config = loadConfig({
    env: {},
    overrides: {
      http: { host: '127.0.0.1', port: 0 },
      dataDir,
      log: { level: opts.logLevel },
      jwt: { secret },
      admin: { token: randomBytes(16).toString('hex') },
      media: { workers: 1, rtcPort: 0, listenIp: '127.0.0.1', announcedIp: '' },
      rooms: { maxParticipants: opts.maxParticipants },
      // Encrypted rooms when the first participant brings a key (most joins do), so e2eeKeys is relayed.
      e2ee: { mode: 'optional' },
      signalling: { reconnectGraceSeconds: opts.reconnectGraceSeconds, pingIntervalSeconds: opts.pingIntervalSeconds },
    },
  });
  const handle = await buildApp({ config, logger: createLogger(opts.logLevel, sink) });
  const address = await handle.fastify.listen({ host: '127.0.0.1', port: 0 });
  const url = address.replace('localhost', '127.0.0.1');
  return Object.assign(server, {
    handle,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/rtc`,
    errorLog,
    mint: (o: Omit<MintOptions, 'ttlSeconds'> & { ttlSeconds?: number }) => mintToken(secret, { ttlSeconds: 3600, ...o }),
    async close() {
      await handle.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
