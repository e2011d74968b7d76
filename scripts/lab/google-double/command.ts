/**
 * `wsfleet lab google-double`: the lab's metadata server, Secret Manager and Memorystore
 * getAuthString (server.ts), in the foreground until SIGTERM or SIGINT. The app VMs' boot fetches
 * reach it through `--metadata-url` and `--secret-manager-url` (`--redis-api`), set by the lab's
 * user-data as the deploy's is rendered; it listens on the lab's bridge address only.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Command } from '../../../daemons/shared/command.ts';
import { option, parseCommand, schemas } from '../../../daemons/shared/config.ts';
import { createLogger } from '../../../daemons/shared/logger.ts';
import { installShutdown } from '../../../daemons/shared/shutdown.ts';
import { startGoogleDouble } from './server.ts';

const SHUTDOWN_DEADLINE_MS = 5_000;

export const googleDoubleOptions = {
  host: option({
    schema: z
      .string()
      .refine((s) => isIP(s) !== 0)
      .default('127.0.0.1'),
    description: "Address to listen on (the lab's bridge address)",
    expected: 'an IPv4 or IPv6 address',
  }),
  port: option({
    schema: schemas.portOrZero(8089),
    description: 'Port to listen on (0 picks a free one; the log line names it)',
    expected: 'an integer from 0 to 65535',
  }),
  secretsDir: option({
    schema: z.string().startsWith('/'),
    description: 'Folder of the secrets it serves, one file per secret: <project>/<secret>',
    expected: 'an absolute path',
  }),
  redisAuthFile: option({
    schema: z.string().startsWith('/').optional(),
    description: 'File holding the Redis AUTH string getAuthString answers (unset: none)',
    expected: 'an absolute path',
  }),
  logLevel: option({
    schema: schemas.level(),
    description: 'Log level',
    expected: 'one of fatal, error, warn, info, debug, trace, silent',
  }),
} as const;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab google-double --secrets-dir DIR [flags]',
    "Serve the lab's metadata server, Secret Manager and Memorystore AUTH stand-in (values read from files).",
    googleDoubleOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const log = createLogger({ name: 'wsfleet-lab-google-double', level: config.logLevel });
  const double = await startGoogleDouble({
    host: config.host,
    port: config.port,
    secretsDir: config.secretsDir,
    ...(config.redisAuthFile === undefined ? {} : { redisAuthFile: config.redisAuthFile }),
  });
  installShutdown({ log, deadlineMs: SHUTDOWN_DEADLINE_MS, close: () => double.stop() });
  log.info({ host: double.host, port: double.port, secretsDir: config.secretsDir }, 'listening');
  return undefined;
};
