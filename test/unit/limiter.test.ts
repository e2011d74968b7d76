import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../daemons/app/limiter.ts';

describe('createLimiter', () => {
  it('runs at most `limit` tasks at once, all of them, in order, also when some fail', async () => {
    const limiter = createLimiter(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const releases: (() => void)[] = [];
    const results = Array.from({ length: 10 }, (_, i) =>
      limiter
        .run(async () => {
          started.push(i);
          running++;
          peak = Math.max(peak, running);
          await new Promise<void>((resolve) => releases.push(resolve));
          running--;
          if (i % 4 === 0) throw new Error(`task ${i}`);
          return i;
        })
        .catch((err: Error) => err.message),
    );
    while (started.length < 10 || releases.length > 0) {
      await new Promise((r) => setImmediate(r));
      expect(limiter.active).toBeLessThanOrEqual(3);
      releases.shift()?.();
    }
    expect(await Promise.all(results)).toEqual(
      Array.from({ length: 10 }, (_, i) => (i % 4 === 0 ? `task ${i}` : i)),
    );
    expect(peak).toBe(3);
    expect(started).toEqual([...Array(10).keys()]);
    expect(limiter.active).toBe(0);
  });
});
