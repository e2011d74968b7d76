/**
 * A token bucket per connection: `rate` frames per second on average, `burst` at once. Refilled
 * lazily from the clock on each take, so an idle connection costs no timer.
 */
export interface TokenBucket {
  tokens: number;
  at: number;
}

export function createBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, at: now };
}

/** Takes one token; false when the bucket is empty. */
export function take(bucket: TokenBucket, rate: number, burst: number, now: number): boolean {
  const elapsed = (now - bucket.at) / 1000;
  bucket.at = now;
  bucket.tokens = Math.min(burst, bucket.tokens + elapsed * rate);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
