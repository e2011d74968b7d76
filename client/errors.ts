/** The one error class of the client: a stable `code` to branch on, the server's words in `message`. */

/**
 * Codes the client itself gives (README "Client" lists them with the server's codes, which come
 * through unchanged from error frames).
 */
export const CLIENT_ERRORS = {
  closed: 'client.close() was called; the request was dropped.',
  disconnected:
    'The connection was lost after the publish was sent and the server cannot deduplicate a retry; it may or may not have been delivered.',
  timeout: 'No answer within the time allowed.',
  bad_argument: 'A channel name, position or option is not valid.',
  already_subscribed: 'This client already has a subscription to the channel.',
  token_expired: 'The token expired and there is no getToken to fetch a new one.',
  token_failed: 'getToken threw or returned something that is not a token.',
  bad_server_frame: 'The server sent a frame that is not part of the protocol; it was ignored.',
  no_websocket: 'There is no global WebSocket: pass one (the ws package in Node 20) as the WebSocket option.',
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
