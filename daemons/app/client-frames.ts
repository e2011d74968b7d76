/**
 * What a client's frames do once a connection is open: the rate limit, parsing, and each op of
 * the protocol (ping, refresh, subscribe, unsubscribe, publish); and the token's expiry, which a
 * refresh moves.
 */
import type { RawData } from 'ws';
import type { Logger } from '../shared/logger.ts';
import { take } from '../shared/token-bucket.ts';
import type { AppConfig } from './config.ts';
import type { ErrorBoundary } from './error-boundary.ts';
import type { Hub } from './hub.ts';
import type { AppMetrics } from './metrics.ts';
import { type ClientOp, type ProtocolErrorCode, parseClientFrame, type RequestId } from './protocol.ts';
import type { Session } from './session.ts';
import { channelAllowed, msUntilExpiry, TOKEN_EXPIRED, verifyTokenRotating } from './token.ts';

export interface ClientFramesDeps {
  readonly config: AppConfig;
  readonly log: Logger;
  readonly metrics: AppMetrics;
  readonly hub: Hub;
  readonly boundary: ErrorBoundary;
  /** Monotonic milliseconds, for the rate limit. */
  readonly clock: () => number;
}

export interface ClientFrames {
  /** Handles one frame of `session`; may throw (the caller's boundary closes the connection). */
  handle(session: Session, data: RawData, isBinary: boolean): void;
  /** Closes the connection with 4001 when its token expires; a refresh re-arms it. */
  armExpiry(session: Session): void;
}

export function createClientFrames(deps: ClientFramesDeps): ClientFrames {
  const { config, log, metrics, hub, boundary, clock } = deps;

  function protocolError(
    session: Session,
    code: ProtocolErrorCode,
    message: string,
    extra: object = {},
  ): void {
    metrics.protocolErrors.inc({ code });
    session.reply({ op: 'error', code, message, ...extra });
  }

  function handle(session: Session, data: RawData, isBinary: boolean): void {
    metrics.framesReceived.inc();
    if (!take(session.bucket, config.rateLimit, config.rateBurst, clock())) {
      // One error frame per burst of dropped frames, so a flood cannot make us write a flood.
      if (!session.limited)
        protocolError(session, 'rate_limited', `more than ${config.rateLimit} frames per second`);
      session.limited = true;
      return;
    }
    session.limited = false;
    if (isBinary) {
      protocolError(session, 'binary_not_supported', 'send JSON text frames');
      return;
    }
    const parsed = parseClientFrame((data as Buffer).toString());
    if (!parsed.ok) {
      protocolError(session, parsed.code, parsed.message, parsed.id === undefined ? {} : { id: parsed.id });
      return;
    }
    dispatch(session, parsed.value);
  }
  function dispatch(session: Session, op: ClientOp): void {
    const withId = op.id === undefined ? {} : { id: op.id };
    switch (op.op) {
      case 'ping':
        session.reply({ op: 'pong', ...withId });
        return;
      case 'refresh':
        refresh(session, op.token, withId);
        return;
      case 'subscribe':
        hub.subscribe(session, op).catch((err: unknown) => boundary.failSession(session, 'subscribe', err));
        return;
      case 'unsubscribe':
        hub.unsubscribe(session, op.channel, op.id);
        return;
      case 'publish': {
        if (!config.clientPublish) {
          protocolError(session, 'publish_disabled', 'clients may not publish on this node', withId);
          return;
        }
        if (!channelAllowed(session.claims, op.channel)) {
          protocolError(session, 'forbidden', 'token does not allow this channel', {
            channel: op.channel,
            ...withId,
          });
          return;
        }
        hub
          .publish(op.channel, op.data, op.idempotencyKey)
          .then(
            (position) => {
              (position.duplicate ? metrics.deduplicated : metrics.published).inc({ source: 'ws' });
              if (op.id !== undefined)
                session.reply({ op: 'ack', id: op.id, channel: op.channel, offset: position.offset });
            },
            (err: unknown) => {
              metrics.publishFailures.inc({ source: 'ws' });
              log.warn({ err, channel: op.channel, session: session.id }, 'publish failed');
              protocolError(session, 'publish_failed', 'publication could not be made durable; retry', {
                channel: op.channel,
                ...withId,
              });
            },
          )
          .catch((err: unknown) => boundary.failSession(session, 'publish', err));
        return;
      }
    }
  }

  /** Closes the connection with 4001 when its token expires; a refresh re-arms it. */
  function armExpiry(session: Session): void {
    clearTimeout(session.expiry);
    session.expiry = undefined;
    if (session.claims === undefined) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days); a later expiry re-arms on the way.
    const delay = Math.min(Math.max(0, msUntilExpiry(session.claims, Date.now())), 2 ** 31 - 1);
    session.expiry = setTimeout(() => {
      if (session.claims !== undefined && msUntilExpiry(session.claims, Date.now()) > 0) {
        armExpiry(session);
        return;
      }
      metrics.disconnects.inc({ reason: 'token_expired' });
      session.ws.close(TOKEN_EXPIRED.code, TOKEN_EXPIRED.reason);
    }, delay);
    session.expiry.unref();
  }

  function refresh(session: Session, token: string, withId: { id?: RequestId }): void {
    if (config.tokenSecret === undefined) {
      protocolError(session, 'bad_token', 'this node takes no tokens', withId);
      return;
    }
    const result = verifyTokenRotating(
      token,
      config.tokenSecret,
      config.tokenSecretPrevious,
      Math.floor(Date.now() / 1000),
    );
    if (!result.ok) {
      protocolError(session, 'bad_token', result.reason, withId);
      return;
    }
    if (result.claims.sub !== session.claims?.sub) {
      protocolError(session, 'bad_token', 'the token is for another subject', withId);
      return;
    }
    session.claims = result.claims;
    // Subscriptions the new token no longer allows end here.
    for (const channel of [...(session.channels ?? [])]) {
      if (!channelAllowed(result.claims, channel)) hub.unsubscribe(session, channel);
    }
    armExpiry(session);
    session.reply({ op: 'refreshed', exp: result.claims.exp, ...withId });
  }

  return { handle, armExpiry };
}
