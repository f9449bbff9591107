import type { FastifyInstance } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * Every HTTP route's schema (bodies, parameters) checked by TypeBox exactly as documented: no type
 * coercion (`"durationSeconds": true` is not one second) and no silently dropped fields (a misspelt
 * `duration` is refused, not ignored). The refusal names the field as config errors do:
 * `body.duration: Unexpected property` (INVALID_REQUEST through installErrorHandlers).
 */
export function installValidator(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const check = TypeCompiler.Compile(schema as TSchema);
    return (data: unknown) => {
      if (check.Check(data)) return { value: data };
      const e = check.Errors(data).First();
      const field = [httpPart ?? 'request', ...(e?.path ? e.path.slice(1).split('/') : [])].join('.');
      return { error: new Error(`${field}: ${e?.message ?? 'invalid'}`) };
    };
  });
}
