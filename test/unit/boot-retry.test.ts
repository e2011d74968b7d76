import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOT_RETRY,
  type BootRetryDeps,
  isTransient,
  retryTransient,
  transient,
  transientStatus,
} from '../../daemons/app/boot-retry.ts';

/** A clock that moves only when the code under test sleeps. */
function fakeDeps(random: () => number) {
  let now = 0;
  const sleeps: number[] = [];
  const retries: number[] = [];
  const deps: BootRetryDeps = {
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    random,
    onRetry: (_err, delay) => retries.push(delay),
  };
  return { deps, sleeps, retries, now: () => now };
}

describe('boot fetch retries', () => {
  it('tries a passing failure again until it succeeds', async () => {
    const { deps, sleeps } = fakeDeps(() => 0.5);
    let calls = 0;
    const value = await retryTransient(
      async () => {
        calls++;
        if (calls < 3) throw transient(new Error('403'));
        return 'ok';
      },
      60_000,
      deps,
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([BOOT_RETRY.baseMs * 0.75, BOOT_RETRY.baseMs * 1.5]);
  });

  it('ends at once on a failure that does not pass, and with a window of 0', async () => {
    const { deps, sleeps } = fakeDeps(() => 0.5);
    let calls = 0;
    const lasting = new Error('404');
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw lasting;
        },
        60_000,
        deps,
      ),
    ).rejects.toBe(lasting);
    const passing = transient(new Error('503'));
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw passing;
        },
        0,
        deps,
      ),
    ).rejects.toBe(passing);
    expect(calls).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('never sleeps past its window, delays between half and all of the doubling cap, and throws the last error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 600_000 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 50,
        }),
        async (window, randoms) => {
          let i = 0;
          const { deps, sleeps, now } = fakeDeps(() => randoms[i++ % randoms.length] ?? 0);
          let calls = 0;
          const errors: Error[] = [];
          const thrown = await retryTransient(
            async () => {
              calls++;
              const err = transient(new Error(`try ${calls}`));
              errors.push(err);
              throw err;
            },
            window,
            deps,
          ).catch((e: unknown) => e);
          expect(thrown).toBe(errors.at(-1));
          expect(now()).toBeLessThan(Math.max(window, 1));
          expect(calls).toBe(sleeps.length + 1);
          sleeps.forEach((ms, n) => {
            const cap = Math.min(BOOT_RETRY.baseMs * 2 ** n, BOOT_RETRY.maxDelayMs);
            expect(ms).toBeGreaterThanOrEqual(cap / 2);
            expect(ms).toBeLessThanOrEqual(cap);
          });
        },
      ),
      { seed: 20261207, numRuns: 300 },
    );
  });

  it('counts 403 (a grant not yet propagated), 408, 429 and 5xx as passing, not 400, 401 or 404', () => {
    expect([403, 408, 429, 500, 502, 503, 504].every(transientStatus)).toBe(true);
    expect([200, 400, 401, 404, 409, 412].some(transientStatus)).toBe(false);
    expect(isTransient(new Error('x'))).toBe(false);
    expect(isTransient(transient(new Error('x')))).toBe(true);
    expect(isTransient(undefined)).toBe(false);
  });
});
