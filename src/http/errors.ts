import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SfuError } from '../shared/errors.ts';

/** Every HTTP error leaves as {error: {code, message}} with the code's status. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof SfuError) return reply.code(err.status).send({ error: err.toJSON() });
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode === 413) return reply.code(413).send({ error: { code: 'MESSAGE_TOO_LARGE', message: 'request body too large' } });
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: e.message ?? 'invalid request' } });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'not found' } }));
}
