import { describe, expect, it } from 'vitest';
import { originAllowed } from '../../daemons/app/origin.ts';
import { createBucket, take } from '../../daemons/shared/token-bucket.ts';

describe('rate limit', () => {
  it('allows a burst, then refills at the rate', () => {
    const bucket = createBucket(3, 0);
    expect([
      take(bucket, 10, 3, 0),
      take(bucket, 10, 3, 0),
      take(bucket, 10, 3, 0),
      take(bucket, 10, 3, 0),
    ]).toEqual([true, true, true, false]);
    expect(take(bucket, 10, 3, 50)).toBe(false);
    expect(take(bucket, 10, 3, 100)).toBe(true);
    expect(take(bucket, 10, 3, 100)).toBe(false);
  });

  it('never holds more than the burst', () => {
    const bucket = createBucket(2, 0);
    take(bucket, 10, 2, 1_000_000);
    expect(bucket.tokens).toBe(1);
  });
});

describe('#originAllowed', () => {
  it.each([
    [undefined, 'h:1', undefined, true],
    ['http://h:1', 'h:1', undefined, true],
    ['https://h:1', 'h:1', undefined, true],
    ['https://evil.example', 'h:1', undefined, false],
    ['null', 'h:1', undefined, false],
    ['https://app.example', 'h:1', ['https://app.example'], true],
    ['https://other.example', 'h:1', ['https://app.example'], false],
    ['https://other.example', 'h:1', ['*'], true],
  ])('origin %s to host %s with allowlist %j: %s', (origin, host, allowed, expected) => {
    expect(originAllowed(origin, host, allowed)).toBe(expected);
  });
});
