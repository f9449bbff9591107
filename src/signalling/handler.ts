import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Config } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { RevocationList } from '../auth/revocations.ts';
import type { Grant } from '../domain/roles.ts';
import type { RoomRegistry } from '../room/registry.ts';
import type { Room } from '../room/room.ts';
import type { Participant } from '../room/participant.ts';
import type { AdmissionStep } from '../room/admission.ts';
import type { Store } from '../store/types.ts';
import type { SafetyRules } from '../safety/validate.ts';
import type { RoomPlacement } from '../cluster/room-placement.ts';
import type { SessionRoster } from '../cluster/session-roster.ts';
import type { ResumeTokens } from '../auth/resume-token.ts';

/** What handlers may use: the node's services, never the socket. */
export interface SignallingServices {
  readonly config: Readonly<Config>;
  readonly rooms: RoomRegistry;
  readonly revocations: RevocationList;
  readonly admission: readonly AdmissionStep[];
  readonly store: Store;
  readonly safetyRules: SafetyRules;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Where a room not open here goes (always here on a single node; docs/scaling.md). */
  readonly placement: RoomPlacement;
  /** Issues and reads resume tokens (any node of the cluster reads another's). */
  readonly resumeTokens: ResumeTokens;
  /** Hands the sessions of a lost node to one node (nothing to restore on a single node; docs/scaling.md, "Node loss"). */
  readonly roster: SessionRoster;
}

/** The per-connection view a handler gets. */
export interface HandlerContext {
  readonly services: SignallingServices;
  readonly grant: Grant;
  readonly remoteAddress: string;
  /** The joined room and participant; throws NOT_JOINED before join. */
  joined(): { room: Room; participant: Participant };
  /** Whether join already succeeded on this connection. */
  readonly isJoined: boolean;
  /** True once the connection closed: a request still running must not admit or bind anyone. */
  readonly closed: boolean;
  /** Binds this connection to a participant (join, resume). */
  bind(room: Room, participant: Participant): void;
  /** Detaches this connection from its participant (leave). */
  unbind(): void;
}

export interface Handler<S extends TSchema = TSchema> {
  readonly method: string;
  readonly schema: S;
  readonly check: TypeCheck<S>;
  handle(ctx: HandlerContext, data: Static<S>): Promise<unknown>;
}

/** Declares one signalling method: its name, its data schema and its handler. */
export function defineHandler<S extends TSchema>(def: {
  method: string;
  schema: S;
  handle(ctx: HandlerContext, data: Static<S>): Promise<unknown>;
}): Handler<S> {
  return { ...def, check: TypeCompiler.Compile(def.schema) };
}
