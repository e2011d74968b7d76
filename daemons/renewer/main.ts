/** `wsfleet renewer run`: reads flags and env, wires signals, runs the renewer until stopped. */
import type { Command } from '../shared/command.ts';
import { parseCommand } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { createNotifier } from '../shared/notify.ts';
import { installShutdown } from '../shared/shutdown.ts';
import { inheritedFd } from './challenge-server.ts';
import { crossProblems, renewerOptions } from './config.ts';
import { createRenewerDaemon } from './daemon.ts';

/** An order in flight is given this long to finish (and release its lease) on SIGTERM. */
export const SHUTDOWN_DEADLINE_MS = 60_000;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet renewer run [flags]',
    'Get and renew certificates over ACME (HTTP-01) and keep them in the store.',
    renewerOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const problems = crossProblems(config);
  if (config.cert.length === 0) problems.push('Give at least one `--cert NAME[,NAME…]` (or WSFLEET_CERT)');
  if (problems.length > 0) throw new ConfigError(problems);
  const log = createLogger({ name: 'wsfleet-renewer', level: config.logLevel });
  const notifier = createNotifier({ log, env });
  const challengeFd = inheritedFd(env, process.pid);
  const daemon = createRenewerDaemon(config, {
    log,
    env,
    ...(challengeFd === undefined ? {} : { challengeFd }),
  });
  installShutdown({ log, notifier, deadlineMs: SHUTDOWN_DEADLINE_MS, close: () => daemon.close() });
  const { challenges, metrics } = await daemon.start();
  log.info(
    {
      challenges: challenges === undefined ? undefined : `${challenges.address}:${challenges.port}`,
      inheritedSocket: challengeFd !== undefined,
      metrics: `${metrics.address}:${metrics.port}`,
      certificates: config.cert.map((c) => c.domains),
      store: config.store,
    },
    'serving',
  );
  await notifier.ready(`serving challenges; ${config.cert.length} certificate(s)`);
  return undefined;
};
