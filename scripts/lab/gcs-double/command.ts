/**
 * `wsfleet lab gcs-double`: the lab's Google Cloud Storage, in memory, in the foreground until
 * SIGTERM or SIGINT. The daemons reach it with `--gcs-endpoint http://HOST:PORT`; over plain
 * http:// they send no credentials, so it may listen on the lab's bridge address.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Command } from '../../../daemons/shared/command.ts';
import { option, parseCommand, schemas } from '../../../daemons/shared/config.ts';
import { createLogger } from '../../../daemons/shared/logger.ts';
import { installShutdown } from '../../../daemons/shared/shutdown.ts';
import { startGcsDouble } from './server.ts';

/** Closing drops open connections at once; this only bounds a stuck close. */
const SHUTDOWN_DEADLINE_MS = 5_000;

// GCS's rules for names without dots: 3–63 of a-z 0-9 - _ ., alphanumeric at both ends.
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

export const gcsDoubleOptions = {
  host: option({
    schema: z
      .string()
      .refine((s) => isIP(s) !== 0)
      .default('127.0.0.1'),
    description: "Address to listen on (the lab's bridge address; no credentials travel to it)",
    expected: 'an IPv4 or IPv6 address',
  }),
  port: option({
    schema: schemas.portOrZero(4443),
    description: 'Port to listen on (0 picks a free one; the log line names it)',
    expected: 'an integer from 0 to 65535',
  }),
  bucket: option({
    schema: z.array(z.string().regex(BUCKET)).min(1),
    description: 'A bucket to serve, empty at first (repeatable; env: space-separated)',
    expected: 'bucket names of 3–63 characters a-z 0-9 - _ ., starting and ending alphanumeric',
    kind: 'list',
  }),
  logLevel: option({
    schema: schemas.level(),
    description: 'Log level',
    expected: 'one of fatal, error, warn, info, debug, trace, silent',
  }),
} as const;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab gcs-double --bucket NAME… [flags]',
    'Serve the GCS JSON API stand-in of the lab, in memory: objects are lost when it stops.',
    gcsDoubleOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const log = createLogger({ name: 'wsfleet-lab-gcs-double', level: config.logLevel });
  const double = await startGcsDouble({
    host: config.host,
    port: config.port,
    buckets: config.bucket,
    recordRequests: false,
  });
  installShutdown({ log, deadlineMs: SHUTDOWN_DEADLINE_MS, close: () => double.stop() });
  log.info(
    { host: double.host, port: double.port, apiEndpoint: double.apiEndpoint, buckets: config.bucket },
    'listening',
  );
  return undefined;
};
