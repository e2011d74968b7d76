/**
 * The error of the Nginx module: which step failed (a stable `code`), the command that ran, and
 * what it printed, so a log line alone says why nginx refused a configuration.
 */

import { type ErrorCode, WsfleetError } from '../shared/errors.ts';

/** The codes an NginxError carries (described with the others in daemons/shared/errors.ts). */
export type NginxErrorCode = Extract<
  ErrorCode,
  'WSFLEET_NGINX_TEST_FAILED' | 'WSFLEET_NGINX_RELOAD_FAILED' | 'WSFLEET_NGINX_SERVED_MISMATCH'
>;

export interface NginxErrorDetails {
  /** The command that ran, as its argument list. */
  readonly command?: readonly string[];
  /** What it printed (stderr, then stdout), trimmed. */
  readonly output?: string;
  readonly cause?: unknown;
}

export class NginxError extends WsfleetError {
  override readonly code: NginxErrorCode;
  readonly command: readonly string[] | undefined;
  readonly output: string;

  constructor(
    code: NginxErrorCode,
    message: string,
    { command, output = '', cause }: NginxErrorDetails = {},
  ) {
    super(code, output === '' ? message : `${message}: ${output}`, { cause });
    this.name = 'NginxError';
    this.code = code;
    this.command = command;
    this.output = output;
  }
}

/** True when `err` is an NginxError, and of `code` when one is given. */
export function isNginxError(err: unknown, code?: NginxErrorCode): err is NginxError {
  return err instanceof NginxError && (code === undefined || err.code === code);
}
