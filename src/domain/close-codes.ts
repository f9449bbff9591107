/**
 * WebSocket close codes the server uses (docs/protocol.md). Its own module, with no imports,
 * so that the browser client bundles the same table.
 */
export const CLOSE_CODES = {
  NORMAL: 1000,
  SESSION_REPLACED: 4000,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  JOIN_TIMEOUT: 4408,
  DUPLICATE_IDENTITY: 4409,
  ROOM_CLOSED: 4410,
  RATE_LIMITED: 4429,
  SERVER_DRAINING: 4503,
} as const;
