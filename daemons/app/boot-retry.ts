/**
 * The boot fetches (`wsfleet app fetch-secrets`, `wsfleet app redis-auth`) run once per boot, as
 * oneshots the app requires: a failure leaves the app down until autohealing replaces the VM.
 * Some failures pass by themselves within minutes, and they are exactly the ones a first deploy
 * meets: an IAM grant made seconds before the VM booted answers 403 until it has propagated
 * (Google documents "typically within 2 minutes, sometimes 7 or more"), a metadata server or an
 * API that does not answer yet, 429 and 5xx. Those are tried again with jittered backoff within
 * a bounded time; anything else (404, 401, a bad answer) ends the fetch at once.
 */

import { option, schemas } from '../shared/config.ts';

const TRANSIENT = Symbol('wsfleet.transient');

/** `--retry-for` of both boot fetches. */
export const retryForOption = option({
  schema: schemas.int(0, 3600, 150),
  description:
    'Seconds to keep trying after a failure that may pass (403 of an IAM grant not yet propagated, no answer, 429, 5xx); 0: one try',
  expected: 'a whole number of seconds from 0 to 3600',
});

/** Marks an error as one a later try may not meet; returns it. */
export function transient<E extends Error>(err: E): E {
  Object.defineProperty(err, TRANSIENT, { value: true });
  return err;
}

export function isTransient(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { [TRANSIENT]?: boolean })[TRANSIENT] === true;
}

/** HTTP statuses a boot fetch tries again: IAM not yet propagated, timeouts, rate limits, outages. */
export function transientStatus(status: number): boolean {
  return status === 403 || status === 408 || status === 429 || status >= 500;
}

export const BOOT_RETRY = {
  /** The first delay's upper bound; each next one doubles, up to maxDelayMs. A delay is at least
   * half its bound ("equal jitter"), so tries are spread yet never back to back. */
  baseMs: 1_000,
  maxDelayMs: 15_000,
} as const;

export interface BootRetryDeps {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Told of each failure that will be tried again, and when. */
  readonly onRetry: (err: Error, delayMs: number, attempt: number) => void;
}

export const realBootRetryDeps = (onRetry: BootRetryDeps['onRetry']): BootRetryDeps => ({
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  onRetry,
});

/**
 * Runs `attempt` until it succeeds, fails for good, or `forMs` has passed: a further try is
 * started only when its delay ends before that deadline. The last error is thrown as it was.
 */
export async function retryTransient<T>(
  attempt: () => Promise<T>,
  forMs: number,
  deps: BootRetryDeps,
): Promise<T> {
  const deadline = deps.now() + forMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err)) throw err;
      const cap = Math.min(BOOT_RETRY.baseMs * 2 ** Math.min(n - 1, 20), BOOT_RETRY.maxDelayMs);
      const delay = Math.round((cap / 2) * (1 + deps.random()));
      if (deps.now() + delay >= deadline) throw err;
      deps.onRetry(err as Error, delay, n);
      await deps.sleep(delay);
    }
  }
}
