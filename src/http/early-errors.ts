import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SfuError } from '../shared/errors.ts';

/*
 * Errors raised before any route or fastify error handler runs, by the router and by Node's HTTP
 * parser: answered with the same coded {error: {code, message}} body as every other HTTP error
 * (installErrorHandlers in errors.ts), never fastify's or Node's own.
 */

/** Longest path parameter the router takes (a room id is at most 128 characters, 384 percent-encoded); the route's schema then checks the decoded value. */
export const MAX_PARAM_LENGTH = 512;

/**
 * Errors the router raises before any route or error handler runs (fastify `frameworkErrors`):
 * a URL that is not valid percent-encoding, a path parameter over MAX_PARAM_LENGTH. Coded like
 * every other HTTP error (400 INVALID_REQUEST), never fastify's own body.
 */
export function frameworkErrors(err: { code?: string; message: string }, _req: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding'
    : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters`
      : 'invalid request';
  const e = new SfuError('INVALID_REQUEST', message);
  void reply.code(e.status).header('cache-control', 'no-store').send({ error: e.toJSON() });
}

/**
 * Errors Node's HTTP parser raises before fastify sees a request (fastify `clientErrorHandler`):
 * headers over Node's limit (a URL carrying a huge token), a request not sent whole in time, bytes
 * that are not HTTP. Written raw on the socket, coded like every other HTTP error, then the socket closes.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = err.code === 'HPE_HEADER_OVERFLOW' ? new SfuError('HEADERS_TOO_LARGE', 'request headers are limited to 16 KiB')
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new SfuError('HTTP_REQUEST_TIMEOUT', 'the request was not received in time (http.requestTimeoutSeconds)')
      : new SfuError('INVALID_REQUEST', 'not a valid HTTP request');
  const body = JSON.stringify({ error: e.toJSON() });
  const status = e.status;
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
