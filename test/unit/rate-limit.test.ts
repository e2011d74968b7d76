import { describe, expect, it } from 'vitest';
import { createBucket, take } from '../../daemons/shared/token-bucket.ts';

describe('token bucket', () => {
  it('allows a burst, then refills at the rate', () => {
    const bucket = createBucket(5, 0);
    const taken = Array.from({ length: 7 }, () => take(bucket, 2, 5, 0));
    expect(taken).toEqual([true, true, true, true, true, false, false]);
    expect(take(bucket, 2, 5, 499)).toBe(false);
    expect(take(bucket, 2, 5, 500)).toBe(true);
    expect(take(bucket, 2, 5, 500)).toBe(false);
    // Never more than the burst, however long the pause.
    const after = Array.from({ length: 7 }, () => take(bucket, 2, 5, 3_600_000));
    expect(after.filter(Boolean)).toHaveLength(5);
  });

  it('is not emptied by a clock that steps back', () => {
    const bucket = createBucket(5, 10_000_000);
    expect(take(bucket, 50, 5, 10_000_000)).toBe(true);
    // The clock steps an hour back (a wall clock after an NTP correction would).
    expect(take(bucket, 50, 5, 10_000_000 - 3_600_000)).toBe(true);
    expect(take(bucket, 50, 5, 10_000_000 - 3_600_000 + 1)).toBe(true);
  });
});
