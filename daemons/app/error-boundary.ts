/**
 * The error boundary of the app: a handler that throws on input of one client costs that client
 * its request or connection, never the process. Counted by where it happened, logged once.
 */
import type { Logger } from '../shared/logger.ts';
import type { AppMetrics } from './metrics.ts';
import type { Session } from './session.ts';

export type HandlerSite = 'upgrade' | 'message' | 'subscribe' | 'publish' | 'http';

export interface ErrorBoundary {
  /** Counts and logs a handler that failed; the caller ends that one request or connection. */
  handlerFailed(where: HandlerSite, err: unknown, session?: Session): void;
  /** Our fault, not the client's: closes the connection with 1011, and the node carries on. */
  failSession(session: Session, where: HandlerSite, err: unknown): void;
}

export function createErrorBoundary(metrics: AppMetrics, log: Logger): ErrorBoundary {
  function handlerFailed(where: HandlerSite, err: unknown, session?: Session): void {
    metrics.handlerErrors.inc({ where });
    log.error({ err, where, session: session?.id }, 'handler failed; closed that one request or connection');
  }

  return {
    handlerFailed,
    failSession(session, where, err) {
      handlerFailed(where, err, session);
      metrics.disconnects.inc({ reason: 'internal_error' });
      try {
        session.ws.close(1011, 'internal error');
      } catch {
        session.ws.terminate();
      }
    },
  };
}
