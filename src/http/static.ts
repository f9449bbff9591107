import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SfuError } from '../shared/errors.ts';

const gzipAsync = promisify(gzip);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Smaller files go out as they are: gzip's header would eat what it saves. */
const GZIP_FROM_BYTES = 1024;

interface Entry {
  readonly mtimeMs: number;
  readonly body: Buffer;
  /** The body gzipped, when that is worth it (made once per build, kept beside the body). */
  readonly gzipped?: Buffer;
  /** A strong validator of the body's bytes: the browser revalidates with it (cache-control no-cache). */
  readonly etag: string;
}

/** True when the client lists gzip with a non-zero weight in Accept-Encoding. */
function acceptsGzip(req: FastifyRequest): boolean {
  const header = req.headers['accept-encoding'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * Serves the bundled browser client (dist/client) at /: each file read (and gzipped) once per build,
 * kept in memory keyed by its mtime; an ETag per file answers a revalidation with 304, and a client that
 * accepts gzip gets the gzipped bytes (Vary: Accept-Encoding).
 */
export async function clientRoutes(app: FastifyInstance, opts: { dir: string }): Promise<void> {
  const root = resolve(opts.dir);
  const cache = new Map<string, Entry>();
  const load = async (name: string): Promise<{ entry: Entry; type: string }> => {
    const file = resolve(join(root, name));
    const type = TYPES[extname(file)];
    if (!file.startsWith(root + '/') || !type) throw new SfuError('NOT_FOUND', 'not found');
    try {
      const { mtimeMs } = await stat(file);
      let entry = cache.get(file);
      if (entry?.mtimeMs !== mtimeMs) {
        const body = await readFile(file);
        const gzipped = body.length >= GZIP_FROM_BYTES ? await gzipAsync(body) : undefined;
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
        entry = { mtimeMs, body, etag, ...(gzipped && gzipped.length < body.length ? { gzipped } : {}) };
        cache.set(file, entry);
      }
      return { entry, type };
    } catch {
      throw new SfuError('NOT_FOUND', name === 'index.html' ? 'the browser client is not built: run npm run build:client' : 'not found');
    }
  };
  const send = async (req: FastifyRequest, reply: FastifyReply, name: string, cacheControl: string) => {
    const { entry, type } = await load(name);
    reply.type(type).header('cache-control', cacheControl).header('vary', 'accept-encoding');
    // The gzipped and the plain bytes are two representations: each has its own validator.
    const gz = entry.gzipped !== undefined && acceptsGzip(req);
    const etag = gz ? `${entry.etag.slice(0, -1)}-gz"` : entry.etag;
    reply.header('etag', etag);
    const ifNoneMatch = req.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
      return reply.code(304).send();
    }
    if (gz) return reply.header('content-encoding', 'gzip').send(entry.gzipped);
    return reply.send(entry.body);
  };
  app.get('/', (req, reply) => send(req, reply, 'index.html', 'no-store'));
  app.get<{ Params: { file: string } }>('/:file', (req, reply) => send(req, reply, req.params.file, 'no-cache'));
}
