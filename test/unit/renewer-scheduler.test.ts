import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Outcome, Renewer } from '../../daemons/renewer/renewer.ts';
import { CLOSE_WAIT_MS, createScheduler } from '../../daemons/renewer/scheduler.ts';
import { captureLogs } from '../helpers/logs.ts';

const SPEC = { name: 'hung.test', domains: ['hung.test'] };

/** A renewer whose checks never end, as one waiting on a CA or a store that does not answer. */
function hungRenewer(): { renewer: Renewer; started: () => number } {
  let started = 0;
  const renewer = {
    check: () => {
      started += 1;
      return new Promise<Outcome>(() => undefined);
    },
    nextCheck: () => undefined,
  } as unknown as Renewer;
  return { renewer, started: () => started };
}

describe('Scheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('#close', () => {
    it('stops after CLOSE_WAIT_MS when a check never ends, and says so', async () => {
      vi.useFakeTimers();
      const { log, logs } = captureLogs('scheduler');
      const { renewer, started } = hungRenewer();
      const scheduler = createScheduler({ certs: [SPEC], renewer, cron: '0 */12 * * *', log });
      void scheduler.run(SPEC);
      await vi.waitFor(() => expect(started()).toBe(1));
      let done = false;
      const closing = scheduler.close().then(() => {
        done = true;
      });
      await vi.advanceTimersByTimeAsync(CLOSE_WAIT_MS - 1);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await closing;
      expect(logs.some((l) => l.msg === 'stopping with a check in flight' && l.level === 'warn')).toBe(true);
    });

    it('returns as soon as the running checks end', async () => {
      const { log, logs } = captureLogs('scheduler');
      let finish: ((o: Outcome) => void) | undefined;
      const renewer = {
        check: () => new Promise<Outcome>((resolve) => (finish = resolve)),
        nextCheck: () => undefined,
      } as unknown as Renewer;
      const scheduler = createScheduler({ certs: [SPEC], renewer, cron: '0 */12 * * *', log });
      const run = scheduler.run(SPEC);
      await vi.waitFor(() => expect(finish).toBeDefined());
      const closing = scheduler.close();
      finish?.({ kind: 'current' } as unknown as Outcome);
      await run;
      await closing;
      expect(logs.some((l) => l.msg === 'stopping with a check in flight')).toBe(false);
    });
  });
});
