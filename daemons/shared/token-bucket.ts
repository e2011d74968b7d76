/**
 * A token bucket: `rate` takes per second on average, `burst` at once (the app keeps one per
 * connection for its frames, the renewer's challenge server one per source for store lookups).
 * Refilled lazily from the clock on each take, so an idle bucket costs no timer. The clock is a
 * monotonic one (`performance.now()`, see `monotonicNow`): a wall clock stepped back by NTP would
 * otherwise block every connection for as long as the step.
 */

/** Milliseconds from a clock that never goes back. */
export const monotonicNow = (): number => performance.now();
export interface TokenBucket {
  tokens: number;
  at: number;
}

export function createBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, at: now };
}

/** Takes one token; false when the bucket is empty. */
export function take(bucket: TokenBucket, rate: number, burst: number, now: number): boolean {
  // Even so, time never refills negatively.
  const elapsed = Math.max(0, now - bucket.at) / 1000;
  bucket.at = now;
  bucket.tokens = Math.min(burst, bucket.tokens + elapsed * rate);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
