import { createServer, type Server } from 'node:http';

/** One webhook delivery as received: its Idempotency-Key header, the body's key and tier, when. */
export interface ReceivedHook { key: string | undefined; bodyKey: unknown; tier: unknown; at: number }

/** A webhook receiver on 127.0.0.1 in the test process: answers 200 and records every delivery. */
export async function startWebhookReceiver(): Promise<{ url: string; hooks: ReceivedHook[]; close(): void }> {
  const hooks: ReceivedHook[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const parsed = JSON.parse(body) as { idempotencyKey?: unknown; tier?: unknown };
      hooks.push({ key: req.headers['idempotency-key'] as string | undefined, bodyKey: parsed.idempotencyKey, tier: parsed.tier, at: Date.now() });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, hooks, close: () => server.close() };
}
