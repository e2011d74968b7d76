/**
 * What to do after a failed renewal, as data. Let's Encrypt's advice: retry after about 1
 * minute, 10 minutes, 100 minutes, then once a day. Jitter (±10 %) keeps a fleet from
 * retrying in lockstep; the CA's Retry-After wins when it asks for longer. Permanent errors
 * (the CA said no for a reason a retry cannot fix) are not retried until the configuration
 * changes or a person asks (`wsfleet renewer renew`).
 */

export const RETRY_SCHEDULE_MS = [60_000, 600_000, 6_000_000] as const;
/**
 * After a failed self-check nothing reached the CA (no order, no failed validation counted
 * against the account), so it is retried on a short fixed cadence instead of backing off: on a
 * first deploy the renewer boots before the DNS records are set, before resolvers' negative
 * caches expire and before the app VMs answer behind the load balancer, and the certificate should
 * follow within seconds of the last of these, not after a 100-minute back-off. Every 15 s for
 * the first hour (240 checks: a probe written to the store and one HTTP request each), then every
 * 10 minutes: still free at the CA.
 */
export const SELF_CHECK_INTERVAL_MS = 15_000;
export const SELF_CHECK_FAST_ATTEMPTS = 240;
export const SELF_CHECK_SLOW_INTERVAL_MS = 600_000;
export const RETRY_CAP_MS = 24 * 3600 * 1000;
export const RETRY_JITTER = 0.1;

export interface RetryInput {
  /** Consecutive failures including this one (1 after the first). */
  readonly failures: number;
  readonly permanent: boolean;
  /** The failure came before the CA was asked anything (the self-check). */
  readonly beforeOrder?: boolean;
  /** The CA's Retry-After, when it sent one. */
  readonly retryAfterMs?: number;
}

/** Milliseconds until the next attempt, or undefined for "do not retry". */
export function retryDelay(
  { failures, permanent, beforeOrder = false, retryAfterMs }: RetryInput,
  random: () => number = Math.random,
): number | undefined {
  if (permanent) return undefined;
  const base = beforeOrder
    ? failures <= SELF_CHECK_FAST_ATTEMPTS
      ? SELF_CHECK_INTERVAL_MS
      : SELF_CHECK_SLOW_INTERVAL_MS
    : (RETRY_SCHEDULE_MS[failures - 1] ?? RETRY_CAP_MS);
  const jittered = Math.round(base * (1 + RETRY_JITTER * (2 * random() - 1)));
  return Math.max(jittered, retryAfterMs ?? 0);
}
