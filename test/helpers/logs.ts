/**
 * Log lines a test can read: a daemon's pino logger writing its JSON lines into an array instead
 * of stdout.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../daemons/shared/logger.ts';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface CapturedLogs {
  /** A debug-level logger, as createLogger makes it. */
  readonly log: Logger;
  /** Every line `log` has written so far, parsed, in order. */
  readonly logs: LogLine[];
}

/** A logger named `name` whose lines land in `logs`. */
export function captureLogs(name: string): CapturedLogs {
  const logs: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  return { log: createLogger({ name, level: 'debug', destination }), logs };
}
