/**
 * sd_notify for Type=notify units: READY=1 once the daemon serves, WATCHDOG=1 at half of
 * WATCHDOG_USEC, STOPPING=1 on shutdown, STATUS= lines. Outside systemd (no NOTIFY_SOCKET) every
 * call is a no-op.
 *
 * Why the `systemd-notify` CLI: the notify socket is a Unix datagram socket, which Node cannot
 * open without a native addon (and addons need install scripts the images do not run). The CLI is
 * systemd's own, maintained client. Since systemd 246 it waits on a BARRIER=1 until the manager
 * has processed the message, so a message from this short-lived child is never dropped because
 * its sender already exited. Messages come from a child PID, so the units say NotifyAccess=all.
 */
import { execa } from 'execa';
import type { Logger } from './logger.ts';

export interface Notifier {
  /** True when running under systemd with a notify socket. */
  readonly enabled: boolean;
  ready(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  /** Stops the watchdog pings. Idempotent. */
  close(): void;
}

export interface NotifierOptions {
  readonly log: Logger;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The client to run; tests point it at a wrapper. */
  readonly command?: string;
  readonly pid?: number;
}

/** Half of WATCHDOG_USEC in ms, or undefined when the watchdog is off or meant for another PID. */
export function watchdogInterval(env: Readonly<Record<string, string | undefined>>, pid: number) {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) {
    return undefined;
  }
  // Half the timeout, as sd_watchdog_enabled(3) advises, so one late ping is not fatal.
  return Math.max(1, Math.floor(usec / 2000));
}

export function createNotifier({
  log,
  env = process.env,
  command = 'systemd-notify',
  pid = process.pid,
}: NotifierOptions): Notifier {
  const enabled = Boolean(env.NOTIFY_SOCKET);
  const interval = enabled ? watchdogInterval(env, pid) : undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  // Messages go out one at a time, in order: READY must never overtake an earlier STATUS, nor
  // STOPPING a READY.
  function send(...assignments: string[]): Promise<void> {
    if (!enabled) return Promise.resolve();
    chain = chain.then(async () => {
      try {
        await execa(command, assignments, { env: { NOTIFY_SOCKET: env.NOTIFY_SOCKET }, timeout: 5_000 });
      } catch (err) {
        log.warn({ err, assignments }, 'sd_notify failed');
      }
    });
    return chain;
  }

  function statusArgs(status: string | undefined): string[] {
    return status === undefined ? [] : [`STATUS=${status.replace(/\n/g, ' ')}`];
  }

  return {
    enabled,
    async ready(status) {
      await send('READY=1', ...statusArgs(status));
      if (interval !== undefined && watchdog === undefined && !closed) {
        watchdog = setInterval(() => void send('WATCHDOG=1'), interval);
        watchdog.unref();
        log.debug({ intervalMs: interval }, 'watchdog pings started');
      }
    },
    status(text) {
      return send(...statusArgs(text));
    },
    stopping(status) {
      return send('STOPPING=1', ...statusArgs(status));
    },
    close() {
      closed = true;
      if (watchdog !== undefined) clearInterval(watchdog);
      watchdog = undefined;
    },
  };
}
