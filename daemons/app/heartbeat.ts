/** Finding clients that stopped answering: a WebSocket ping each interval. */
import type { WebSocket } from 'ws';
import type { AppMetrics } from './metrics.ts';
import type { Session } from './session.ts';

/**
 * Pings every client each interval; one that did not answer the previous ping is cut
 * (`ping_timeout`). The timer does not keep the process alive.
 */
export function startHeartbeat(
  sessions: ReadonlyMap<WebSocket, Session>,
  intervalMs: number,
  metrics: AppMetrics,
): NodeJS.Timeout {
  const heartbeat = setInterval(() => {
    for (const session of sessions.values()) {
      if (!session.alive) {
        metrics.disconnects.inc({ reason: 'ping_timeout' });
        session.ws.terminate();
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }, intervalMs);
  heartbeat.unref();
  return heartbeat;
}
