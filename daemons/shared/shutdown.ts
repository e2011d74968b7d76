/**
 * The one way a daemon stops: SIGTERM, SIGINT and fatal errors all lead here. `close()` runs once,
 * under a deadline kept below systemd's TimeoutStopSec, so a stuck close is cut short by us (exit
 * 1, logged) rather than SIGKILLed by systemd mid-write. A second signal exits at once.
 * SIGHUP calls `reload` where the daemon has one.
 */

import { EXIT } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Notifier } from './notify.ts';

export interface ShutdownOptions {
  readonly log: Logger;
  readonly notifier?: Notifier;
  /** How long close() may take before the process exits anyway. */
  readonly deadlineMs: number;
  /** Releases everything; called at most once. */
  readonly close: (reason: string) => Promise<void>;
  readonly reload?: () => Promise<void>;
  readonly exit?: (code: number) => void;
  readonly target?: NodeJS.EventEmitter;
}

export interface Shutdown {
  /** Starts the shutdown (once); resolves when close() is done or the deadline passed. */
  shutdown(reason: string, code?: number): Promise<void>;
}

export function installShutdown({
  log,
  notifier,
  deadlineMs,
  close,
  reload,
  exit = (code) => process.exit(code),
  target = process,
}: ShutdownOptions): Shutdown {
  let running: Promise<void> | undefined;

  function finish(code: number): void {
    notifier?.close();
    log.flush(() => exit(code));
  }

  function shutdown(reason: string, code: number = EXIT.OK): Promise<void> {
    if (running !== undefined) return running;
    log.info({ reason, deadlineMs }, 'shutting down');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    running = (async () => {
      await notifier?.stopping(`stopping: ${reason}`);
      const outcome = await Promise.race([
        close(reason).then(
          () => 'closed' as const,
          (err: unknown) => {
            log.error({ err }, 'error while closing');
            return 'failed' as const;
          },
        ),
        deadline,
      ]);
      clearTimeout(timer);
      if (outcome === 'deadline') {
        log.error({ code: 'WSFLEET_SHUTDOWN_TIMEOUT', deadlineMs }, 'shutdown deadline passed; exiting');
        finish(EXIT.FAILURE);
      } else {
        log.info({ exitCode: outcome === 'failed' ? EXIT.FAILURE : code }, 'stopped');
        finish(outcome === 'failed' ? EXIT.FAILURE : code);
      }
    })();
    return running;
  }

  function onSignal(signal: string): void {
    if (running !== undefined) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      finish(EXIT.FAILURE);
      return;
    }
    void shutdown(signal);
  }

  target.on('SIGTERM', () => onSignal('SIGTERM'));
  target.on('SIGINT', () => onSignal('SIGINT'));
  target.on('SIGHUP', () => {
    if (reload === undefined) {
      log.info('SIGHUP ignored: nothing to reload');
      return;
    }
    reload().catch((err: unknown) => log.error({ err }, 'reload failed'));
  });
  target.on('uncaughtException', (err: unknown) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', EXIT.FAILURE);
  });
  target.on('unhandledRejection', (err: unknown) => {
    log.fatal({ err }, 'unhandled rejection');
    void shutdown('unhandledRejection', EXIT.FAILURE);
  });

  return { shutdown };
}
