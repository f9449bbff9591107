import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that must never reach a log line: tokens, names, locations, phone numbers, E2EE keys and
 * key blobs (nothing logs them; this is the net under that).
 * Redaction happens here, at the logger, so no call site can forget it.
 */
export const REDACT_PATHS = [
  'token', '*.token', 'resumeToken', '*.resumeToken', 'secret', '*.secret', 'credential', '*.credential', '*.*.credential',
  'authorization', '*.authorization', 'req.headers.authorization', 'headers.authorization',
  'name', '*.name', 'displayName', '*.displayName',
  'location', '*.location', 'coordinates', '*.coordinates', 'description', '*.description',
  'phone', '*.phone', 'emergencyContact', '*.emergencyContact', 'address', '*.address',
  'remoteAddress', '*.remoteAddress',
  '*.*.token', '*.*.resumeToken', '*.*.displayName', '*.*.location', '*.*.phone', '*.*.emergencyContact', '*.*.coordinates',
  '*.*.name', '*.*.description', '*.*.secret', '*.*.address', '*.*.remoteAddress', '*.*.authorization',
  'publicKey', '*.publicKey', '*.*.publicKey', 'blob', '*.blob', '*.*.blob', 'keys', '*.keys', 'e2ee.publicKey',
];

/** Strips the query string (where `?token=` lives) from a URL before logging it. */
export function safeUrl(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'telepractice-sfu' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method?: string; url?: string; id?: string }) => ({ id: req.id, method: req.method, url: safeUrl(req.url) }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: stdSerializers.err,
    },
  };
  return destination ? pino(options, destination as DestinationStream) : pino(options);
}
