import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../daemons/app/limiter.ts';

/** Lets every microtask queued so far run, and those they queue. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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

  it('hands a freed slot to the task that waited, not to one that arrives in the same tick', async () => {
    const limiter = createLimiter(1);
    const started: string[] = [];
    let finishFirst: () => void = () => undefined;
    const first = limiter.run(
      () =>
        new Promise<void>((resolve) => {
          started.push('first');
          finishFirst = resolve;
        }),
    );
    const queued = limiter.run(async () => {
      started.push('queued');
      await settle();
    });
    await settle();
    expect(started).toEqual(['first']);

    // The first task ends, and one microtask later (before the queued task got going) a new one
    // arrives: it must wait for the queued one, not take the slot as well.
    finishFirst();
    await Promise.resolve();
    const late = limiter.run(async () => {
      started.push('late');
    });
    expect(limiter.active).toBe(1);
    await settle();
    expect(started).toEqual(['first', 'queued']);
    expect(limiter.active).toBe(1);

    await Promise.all([first, queued, late]);
    expect(started).toEqual(['first', 'queued', 'late']);
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('refuses a limit below one', () => {
    for (const limit of [0, -1, 0.5, Number.NaN]) expect(() => createLimiter(limit)).toThrow(RangeError);
  });

  /**
   * A schedule at the level of microtasks: tasks arrive, and running tasks end (or fail) in any
   * order, with 0 to 3 microtask turns between steps, so that an arrival can fall between a task's
   * end and the start of the one it wakes.
   */
  it('never runs more than `limit` at once, starts tasks in arrival order and finishes them all, whatever the schedule', async () => {
    const step = fc.record({
      kind: fc.constantFrom('arrive', 'end', 'fail'),
      pick: fc.nat(),
      turns: fc.integer({ min: 0, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(step, { maxLength: 60 }),
        async (limit, steps) => {
          const limiter = createLimiter(limit);
          const running = new Map<number, { end: () => void; fail: () => void }>();
          const started: number[] = [];
          const results: Promise<string>[] = [];
          /** What each task's `run` must settle with, as the schedule ended it. */
          const ended = new Map<number, string>();
          let peak = 0;
          let arrived = 0;
          const arrive = (): void => {
            const id = arrived++;
            const task = (): Promise<string> =>
              new Promise<string>((resolve, reject) => {
                started.push(id);
                running.set(id, {
                  end: () => resolve(`done ${id}`),
                  fail: () => reject(new Error(`failed ${id}`)),
                });
                peak = Math.max(peak, running.size);
              });
            results.push(limiter.run(task).catch((err: Error) => err.message));
          };
          const finish = (pick: number, failed: boolean): void => {
            const ids = [...running.keys()];
            const id = ids[pick % Math.max(ids.length, 1)];
            if (id === undefined) return;
            const task = running.get(id);
            running.delete(id);
            ended.set(id, failed ? `failed ${id}` : `done ${id}`);
            if (failed) task?.fail();
            else task?.end();
          };
          for (const { kind, pick, turns } of steps) {
            if (kind === 'arrive') arrive();
            else finish(pick, kind === 'fail');
            for (let t = 0; t < turns; t++) await Promise.resolve();
            expect(running.size).toBeLessThanOrEqual(limit);
          }
          // Let the rest run to the end, oldest first.
          for (;;) {
            await settle();
            if (running.size === 0) break;
            finish(0, false);
          }
          const outcomes = await Promise.all(results);
          expect(peak).toBeLessThanOrEqual(limit);
          expect(started).toEqual([...Array(arrived).keys()]);
          expect(outcomes).toEqual([...Array(arrived).keys()].map((id) => ended.get(id)));
          expect(limiter.active).toBe(0);
          expect(limiter.queued).toBe(0);
        },
      ),
      { seed: 2026, numRuns: 500 },
    );
  });
});
