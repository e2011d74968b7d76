/** Closing a node's clients on shutdown. */
import type { WebSocket } from 'ws';
import type { Logger } from '../shared/logger.ts';
import type { AppMetrics } from './metrics.ts';
import type { Session } from './session.ts';

/** Closes every client with 1012, spread evenly over the window so they do not all reconnect at once. */
export async function drainSessions(
  sessions: ReadonlyMap<WebSocket, Session>,
  windowMs: number,
  metrics: AppMetrics,
  log: Logger,
): Promise<void> {
  const list = [...sessions.values()];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j] as Session, list[i] as Session];
  }
  log.info({ connections: list.length, windowMs }, 'draining');
  const steps = Math.max(1, Math.min(list.length, Math.ceil(windowMs / 100)));
  const stepMs = windowMs / steps;
  let index = 0;
  for (let step = 0; step < steps && index < list.length; step++) {
    const count = Math.ceil((list.length - index) / (steps - step));
    for (const session of list.slice(index, index + count)) {
      metrics.disconnects.inc({ reason: 'drain' });
      session.ws.close(1012, 'service restart');
    }
    index += count;
    if (step < steps - 1) await new Promise((r) => setTimeout(r, stepMs));
  }
  // Give the close handshakes a moment, then cut whatever did not answer.
  const deadline = Date.now() + Math.min(2000, windowMs);
  while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const session of sessions.values()) session.ws.terminate();
}
