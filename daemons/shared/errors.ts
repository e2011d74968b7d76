/**
 * The error classes every wsfleet command shares. Each carries a stable `code` (listed in README,
 * kept in step by test/unit/error-codes.test.ts) and, where one exists, the `cause` it wraps.
 */

/** Every error code a wsfleet command may report, with what it means. */
export const ERROR_CODES = {
  WSFLEET_CONFIG_INVALID: 'A flag or environment variable has a value that is not allowed (exit 78).',
  WSFLEET_USAGE: 'The command line names no known command (exit 64).',
  WSFLEET_SHUTDOWN_TIMEOUT: 'Graceful shutdown did not finish before its deadline (exit 1).',
  WSFLEET_REDIS_UNAVAILABLE: 'Redis could not be reached, so a publish could not be made durable.',
  WSFLEET_BROKER_CLOSED: 'The message broker was closed while an operation was waiting on it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WsfleetError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WsfleetError';
    this.code = code;
  }
}

/** A configuration that cannot run: lists every problem at once. */
export class ConfigError extends WsfleetError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('WSFLEET_CONFIG_INVALID', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Exit codes from sysexits.h that the CLI uses. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  CONFIG: 78,
} as const;
