/**
 * When to reconnect, as data: one schedule with full jitter and a cap, and what each close code
 * means for it. Full jitter (a uniform delay in [0, min(cap, base·2^attempt)]) spreads the clients
 * of a failed node over the whole window instead of bringing them back in waves.
 */

export interface ReconnectPolicy {
  /** First window of the schedule, in ms (attempt 0 waits up to this long). */
  readonly baseMs: number;
  /** The cap of the window: no ordinary reconnect waits longer. */
  readonly maxMs: number;
  /** Close 1012 (the node restarts or drains): come back within this window, without backing off. */
  readonly restartSpreadMs: number;
  /**
   * Close 1008 or 4000–4999 (the server refused this client): wait at least this long, jittered
   * up to twice as long, so a refused client does not hammer the cluster.
   */
  readonly refusedMs: number;
  /** A connection that stays up this long resets the schedule to attempt 0. */
  readonly stableMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  baseMs: 500,
  maxMs: 15_000,
  restartSpreadMs: 1_000,
  refusedMs: 15_000,
  stableMs: 10_000,
};

/** Close code of a connection whose token expired without a refresh. */
export const TOKEN_EXPIRED = 4001;
/** Close code of a node that restarts or drains. */
export const SERVICE_RESTART = 1012;

export type CloseKind = 'restart' | 'refused' | 'token_expired' | 'lost';

export function closeKind(code: number): CloseKind {
  if (code === SERVICE_RESTART) return 'restart';
  if (code === TOKEN_EXPIRED) return 'token_expired';
  if (code === 1008 || (code >= 4000 && code <= 4999)) return 'refused';
  return 'lost';
}

/** The wait before the next connect, given failed attempts so far and how the last one ended. */
export function reconnectDelay(
  policy: ReconnectPolicy,
  attempt: number,
  kind: CloseKind,
  random: () => number,
): number {
  switch (kind) {
    case 'restart':
    case 'token_expired':
      return Math.floor(random() * policy.restartSpreadMs);
    case 'refused':
      return Math.floor(policy.refusedMs * (1 + random()));
    case 'lost': {
      const window = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
      return Math.floor(random() * window);
    }
  }
}
