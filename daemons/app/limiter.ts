/**
 * At most `limit` tasks at a time, the rest queued in order. After a Redis reconnect every
 * channel of the node must sync; running them all at once would send thousands of reads in one
 * burst to a Redis that has just come back.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly queued: number;
}

/** `limit` is a whole number of at least 1 (or Infinity, for no limit). */
export function createLimiter(limit: number): Limiter {
  if (!(limit >= 1) || (!Number.isInteger(limit) && limit !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`a limiter's limit must be a whole number of at least 1, got ${limit}`);
  }
  let active = 0;
  const waiting: (() => void)[] = [];

  /**
   * A finished task's slot passes straight to the oldest waiter, still counted as active: the
   * waiter starts only a microtask later, and a `run` called in between must not see the slot
   * as free (that would run `limit + 1` tasks and start the newcomer before the waiter).
   */
  function release(): void {
    const wake = waiting.shift();
    if (wake === undefined) active--;
    else wake();
  }

  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run(task) {
      if (active < limit) active++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
