/**
 * Structured logs: pino, one JSON line per event on stdout, which journald stores as-is.
 * Secrets are redacted by field name wherever they appear, so a config or request object
 * logged by mistake still never shows a key or token.
 */
import { hostname } from 'node:os';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

const SECRET_FIELDS = [
  'apiKey',
  'tokenSecret',
  'token',
  'privateKey',
  'key',
  'authorization',
  'password',
  // The store's records: a certificate version, an ACME account, a pending order, EAB flags.
  'privateKeyPem',
  'accountKeyPem',
  'keyPem',
  'eabHmacKey',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  readonly name: string;
  readonly level?: string;
  /** Where lines go; stdout by default. Tests pass an in-memory stream. */
  readonly destination?: DestinationStream;
}

export function createLogger({ name, level = 'info', destination }: LoggerOptions): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid, hostname: hostname() },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous writes: a daemon logs events, not traffic, and the last line before exit
    // ("stopped", or why it failed) must never be lost in a buffer.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
