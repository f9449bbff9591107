import type { HandlerContext } from './handler.ts';
import { SfuError } from '../shared/errors.ts';
import { assertNotRevoked } from '../auth/revocations.ts';

/** What a join re-checks around every await of its admission: the connection is open, the identity not revoked. */
export function admissionRecheck(ctx: HandlerContext): () => void {
  const { services, grant } = ctx;
  return () => {
    if (ctx.closed) throw new SfuError('CONNECTION_CLOSED', 'the connection closed before the join completed');
    assertNotRevoked(services.revocations, grant);
  };
}
