import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SfuError } from '../shared/errors.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Serves the bundled browser client (dist/client) at /. */
export async function clientRoutes(app: FastifyInstance, opts: { dir: string }): Promise<void> {
  const root = resolve(opts.dir);
  // The bundle (about 650 KiB) is read once per build: kept in memory, keyed by the file's mtime.
  const cache = new Map<string, { mtimeMs: number; body: Buffer }>();
  const serve = async (name: string) => {
    const file = resolve(join(root, name));
    if (!file.startsWith(root + '/') || !TYPES[extname(file)]) throw new SfuError('NOT_FOUND', 'not found');
    try {
      const { mtimeMs } = await stat(file);
      let entry = cache.get(file);
      if (entry?.mtimeMs !== mtimeMs) {
        entry = { mtimeMs, body: await readFile(file) };
        cache.set(file, entry);
      }
      return { body: entry.body, type: TYPES[extname(file)]! };
    } catch {
      throw new SfuError('NOT_FOUND', name === 'index.html' ? 'the browser client is not built: run npm run build:client' : 'not found');
    }
  };
  app.get('/', async (_req, reply) => {
    const { body, type } = await serve('index.html');
    return reply.type(type).header('cache-control', 'no-store').send(body);
  });
  app.get<{ Params: { file: string } }>('/:file', async (req, reply) => {
    const { body, type } = await serve(req.params.file);
    return reply.type(type).header('cache-control', 'no-cache').send(body);
  });
}
