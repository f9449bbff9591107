import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { INCIDENT_KINDS, OUTCOMES } from '../../domain/incident.ts';
import { CoordinatesSchema } from '../../domain/consent-location.ts';

const IncidentId = Type.String({ minLength: 1, maxLength: 64 });

/** Client -> server events on the /safety namespace, each with its schema (docs/safety.md). */
export const PanicRaise = Type.Object({
  kind: Type.Union(INCIDENT_KINDS.map((k) => Type.Literal(k))),
  silent: Type.Boolean(),
  note: Type.Optional(Type.String({ maxLength: 500 })),
  coordinates: Type.Optional(CoordinatesSchema),
  /** Idempotency key chosen by the client: a retry with the same key returns the same incident. */
  clientIncidentId: Type.String({ minLength: 8, maxLength: 64 }),
}, { additionalProperties: false });

export const PanicAck = Type.Object({ incidentId: IncidentId }, { additionalProperties: false });
export const PanicCancel = PanicAck;
export const PanicResolve = Type.Object({
  incidentId: IncidentId,
  outcome: Type.Union(OUTCOMES.map((o) => Type.Literal(o))),
  note: Type.Optional(Type.String({ maxLength: 1000 })),
  /** Acknowledge first when nobody has (an explicit ack + resolve); without it such a resolve is refused. */
  acknowledge: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export interface Checked<S extends TSchema> { readonly schema: S; readonly check: TypeCheck<S> }
export const compile = <S extends TSchema>(schema: S): Checked<S> => ({ schema, check: TypeCompiler.Compile(schema) });
export type { Static };
