/**
 * Periodic jobs (node-cron) whose failures are seen: each run is logged with its outcome, a
 * rejected run is logged as an error (never swallowed), runs never overlap, and a random delay
 * spreads a fleet's runs so they do not all hit the CA or the store at the same minute.
 */
import cron from 'node-cron';
import type { Logger } from './logger.ts';

export interface CronJob {
  stop(): Promise<void>;
  /** The next scheduled run (before its random delay). */
  nextRun(): Date | null;
}

export function isValidCron(expression: string): boolean {
  return cron.validate(expression);
}

export function scheduleCron(
  expression: string,
  job: () => Promise<void>,
  { name, log, maxRandomDelayMs = 0 }: { name: string; log: Logger; maxRandomDelayMs?: number },
): CronJob {
  const task = cron.schedule(
    expression,
    async () => {
      log.info({ job: name }, 'scheduled run');
      try {
        await job();
      } catch (err) {
        log.error({ err, job: name }, 'scheduled run failed');
      }
    },
    { name, noOverlap: true, maxRandomDelay: maxRandomDelayMs, unref: true },
  );
  return {
    async stop() {
      await task.destroy();
    },
    nextRun: () => task.getNextRun(),
  };
}
