/**
 * Readiness of an app node: it is ready when it can publish and deliver. Liveness needs no
 * state: a process that answers HTTP is alive.
 */

export type UnreadyReason = 'draining' | 'broker unreachable';

export interface Health {
  readonly ready: boolean;
  /** Why the node is not ready; empty when it is. */
  readonly reasons: readonly UnreadyReason[];
}

export function readiness(state: { draining: boolean; brokerHealthy: boolean }): Health {
  const reasons: UnreadyReason[] = [];
  if (state.draining) reasons.push('draining');
  if (!state.brokerHealthy) reasons.push('broker unreachable');
  return { ready: reasons.length === 0, reasons };
}
