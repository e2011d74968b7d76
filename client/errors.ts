/** The one error class of the client: a stable `code` to branch on, the server's words in `message`. */

/**
 * Codes the client itself gives, with short messages (the bundle stays small): README "Client"
 * explains each. The server's codes come through unchanged from its error frames.
 */
export const CLIENT_ERRORS = {
  closed: 'client closed',
  disconnected: 'connection lost; delivery unknown',
  timeout: 'no ack in time',
  bad_argument: 'bad argument',
  already_subscribed: 'already subscribed',
  token_expired: 'token expired',
  token_failed: 'getToken failed',
  bad_server_frame: 'bad frame from the server',
  no_websocket: 'no WebSocket: pass one in the options',
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

export class WsfleetError extends Error {
  override readonly name = 'WsfleetError';
  /** One of CLIENT_ERRORS, or the server's error code (`publish_failed`, `forbidden`, …). */
  readonly code: string;
  readonly channel: string | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; channel?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.channel = options.channel;
  }
}

export function clientError(code: ClientErrorCode, options: { cause?: unknown; channel?: string } = {}) {
  return new WsfleetError(code, CLIENT_ERRORS[code], options);
}
