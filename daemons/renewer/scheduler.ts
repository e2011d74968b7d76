/**
 * When the renewer checks: once at start, on a cron schedule (at least twice a day, each run
 * delayed by up to an hour at random), and at each certificate's own next time (its renewal
 * time, or the retry time after a failure) when that comes sooner. Checks of one certificate
 * never overlap; certificates are checked one after another so orders do not pile up.
 */
import type { Logger } from '../shared/logger.ts';
import { type CronJob, scheduleCron } from '../shared/schedule.ts';
import type { CertificateSpec } from './config.ts';
import type { CheckOptions, Outcome, Renewer } from './renewer.ts';

/** Timers further out than this are left to the cron runs. */
const MAX_TIMER_MS = 12 * 3600 * 1000;
const CRON_RANDOM_DELAY_MS = 3600 * 1000;

export interface Scheduler {
  start(): void;
  /** Runs a check now (after any running check of the same certificate). */
  run(spec: CertificateSpec, options?: CheckOptions): Promise<Outcome>;
  /** Checks every certificate, one after another. */
  runAll(): Promise<Outcome[]>;
  /** Stops scheduling and waits for running checks, at most CLOSE_WAIT_MS. Idempotent. */
  close(): Promise<void>;
}

/** How long close() waits for checks in flight (well inside systemd's 75 s stop timeout). */
export const CLOSE_WAIT_MS = 5_000;

export function createScheduler({
  certs,
  renewer,
  cron,
  log,
  now = () => new Date(),
}: {
  certs: readonly CertificateSpec[];
  renewer: Renewer;
  cron: string;
  log: Logger;
  now?: () => Date;
}): Scheduler {
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Map<string, Promise<Outcome>>();
  let job: CronJob | undefined;
  let closed = false;

  function plan(spec: CertificateSpec): void {
    clearTimeout(timers.get(spec.name));
    timers.delete(spec.name);
    const at = renewer.nextCheck(spec.name);
    if (closed || at === undefined) return;
    const delay = Math.max(0, at.getTime() - now().getTime());
    if (delay > MAX_TIMER_MS) return;
    const timer = setTimeout(() => {
      timers.delete(spec.name);
      void run(spec);
    }, delay);
    timer.unref();
    timers.set(spec.name, timer);
    log.debug({ name: spec.name, at, delayMs: delay }, 'next check planned');
  }

  function run(spec: CertificateSpec, options: CheckOptions = {}): Promise<Outcome> {
    const previous = running.get(spec.name) ?? Promise.resolve(undefined);
    const next = previous
      .catch(() => undefined)
      .then(() => renewer.check(spec, options))
      .then((outcome) => {
        plan(spec);
        return outcome;
      });
    running.set(spec.name, next);
    void next.finally(() => {
      if (running.get(spec.name) === next) running.delete(spec.name);
    });
    return next;
  }

  async function runAll(): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const spec of certs) {
      if (closed) break;
      outcomes.push(await run(spec));
    }
    return outcomes;
  }

  return {
    start() {
      job = scheduleCron(cron, async () => void (await runAll()), {
        name: 'check-certificates',
        log,
        maxRandomDelayMs: CRON_RANDOM_DELAY_MS,
      });
      void runAll();
    },
    run,
    runAll,
    async close() {
      closed = true;
      await job?.stop();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      // A check in flight may wait minutes on a CA or a store that does not answer. Stopping need
      // not wait for it: its order is persisted before finalize and completed by the next start,
      // and its lease expires. So wait a little for a clean end, then go.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([
        Promise.allSettled([...running.values()]).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (gaveUp)
        log.warn(
          { waitedMs: CLOSE_WAIT_MS, running: [...running.keys()] },
          'stopping with a check in flight',
        );
    },
  };
}
