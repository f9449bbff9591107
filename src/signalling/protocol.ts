import { Type, type Static } from '@sinclair/typebox';
import type { ErrorCode, ErrorData } from '../shared/errors.ts';

/**
 * The signalling wire format (docs/protocol.md). Requests from the client:
 *   {id, method, data}
 * Responses from the server:
 *   {id, ok: true, data} | {id, ok: false, error: {code, message, data?}}
 * Notifications from the server:
 *   {notification, data}
 */
export const RequestEnvelope = Type.Object({
  id: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 64 })]),
  method: Type.String({ minLength: 1, maxLength: 64 }),
  data: Type.Optional(Type.Unknown()),
}, { additionalProperties: false });
export type RequestEnvelope = Static<typeof RequestEnvelope>;

export type ResponseEnvelope =
  | { id: RequestEnvelope['id'] | null; ok: true; data: unknown }
  | { id: RequestEnvelope['id'] | null; ok: false; error: { code: ErrorCode; message: string; data?: ErrorData } };

export type {
  RoomCloseReason, LeaveReason, ProducerInfo, SafetyView, ParticipantInfo, Notifications, NotificationName,
} from '../domain/notifications.ts';
export { CLOSE_CODES } from '../domain/close-codes.ts';
