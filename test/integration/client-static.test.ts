/**
 * The browser client's files as a browser fetches them: gzipped when asked, revalidated with an ETag
 * (304 without a body), plain when gzip is not accepted, and nothing outside dist/client.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function get(url: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('client files', () => {
  let server: TestServer;
  const built = readFileSync(join(import.meta.dirname, '../../dist/client/app.js'));
  beforeAll(async () => { server = await startServer(); });
  afterAll(async () => { await server?.close(); });

  it('app.js: gzipped for a client that accepts gzip, the same bytes once inflated, and smaller', async () => {
    const res = await get(`${server.url}/app.js`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toMatch(/accept-encoding/i);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(gunzipSync(res.body).equals(built)).toBe(true);
    expect(res.body.length).toBeLessThan(built.length / 2);
  });

  it('app.js: plain without Accept-Encoding, and with gzip refused (q=0)', async () => {
    for (const headers of [{}, { 'accept-encoding': 'gzip;q=0, identity' }] as Record<string, string>[]) {
      const res = await get(`${server.url}/app.js`, headers);
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.body.equals(built)).toBe(true);
    }
  });

  it('revalidation: the ETag answers 304 with no body; each representation has its own ETag', async () => {
    const plain = await get(`${server.url}/app.js`);
    const zipped = await get(`${server.url}/app.js`, { 'accept-encoding': 'gzip' });
    const plainTag = String(plain.headers.etag);
    const zippedTag = String(zipped.headers.etag);
    expect(plainTag).toMatch(/^"[^"]+"$/);
    expect(zippedTag).not.toBe(plainTag);
    expect(plain.headers['cache-control']).toBe('no-cache');

    const again = await get(`${server.url}/app.js`, { 'accept-encoding': 'gzip', 'if-none-match': zippedTag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const stale = await get(`${server.url}/app.js`, { 'if-none-match': '"something-else"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(built)).toBe(true);
  });

  it('the page itself is never cached; files outside dist/client and unknown types are coded 404s', async () => {
    const page = await get(`${server.url}/`, { 'accept-encoding': 'gzip' });
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(gunzipSync(page.body).toString('utf8')).toMatch(/<html/i);
    for (const path of ['/..%2Fpackage.json', '/%2E%2E%2Fsrc%2Fmain.ts', '/nope.js', '/README.md']) {
      const res = await get(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body.toString('utf8')).error.code, path).toBe('NOT_FOUND');
    }
  });
});
