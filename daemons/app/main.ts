/** `wsfleet app run`: reads flags and env, wires signals, runs the app daemon until stopped. */
import type { Command } from '../shared/command.ts';
import { parseCommand } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { createNotifier } from '../shared/notify.ts';
import { installShutdown } from '../shared/shutdown.ts';
import { appCrossProblems, appOptions } from './config.ts';
import { createApp } from './server.ts';

/** Time past the drain window that closing Redis and the listener may take. */
export const CLOSE_GRACE_MS = 5_000;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet app run [flags]',
    'Run the WebSocket channel server (endpoint /ws).',
    appOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const problems = appCrossProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = createLogger({ name: 'wsfleet-app', level: config.logLevel });
  const notifier = createNotifier({ log, env });
  const app = createApp(config, {
    log,
    onHealth: (healthy, reason) => void notifier.status(healthy ? 'serving' : reason),
  });
  installShutdown({
    log,
    notifier,
    deadlineMs: config.drainSeconds * 1000 + CLOSE_GRACE_MS,
    close: () => app.close(),
  });
  const address = await app.start();
  log.info(
    {
      host: address.address,
      port: address.port,
      node: config.nodeName,
      redis: config.redisUrl !== undefined,
    },
    'serving',
  );
  await notifier.ready(`serving on ${address.address}:${address.port}`);
  return undefined;
};
