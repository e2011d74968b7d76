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

export function createLimiter(limit: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];

  function next(): void {
    active--;
    waiting.shift()?.();
  }

  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run(task) {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      active++;
      try {
        return await task();
      } finally {
        next();
      }
    },
  };
}
